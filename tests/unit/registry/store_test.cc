// Store: durability across reopen, group commit, migrations, the lock, bad rows.
#include "registry/store.h"

#include <sqlite3.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <mutex>

#include <gtest/gtest.h>

namespace cw::registry {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/cw-store-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
};

Instance make(const std::string& service, const std::string& id, uint16_t port) {
  auto r = parse_instance(service, id,
                          R"({"address":"127.0.0.2","port":)" + std::to_string(port) +
                              R"(,"tags":["a"],"meta":{"k":"v"},"weight":3})");
  EXPECT_TRUE(r.has_value());
  return *r;
}

// Submits and waits for the completion (the writer thread calls it).
struct Waiter {
  std::mutex mu;
  std::condition_variable cv;
  int pending = 0;
  int failed = 0;
  Store::Done done() {
    std::lock_guard lk(mu);
    ++pending;
    return [this](Result<void, std::string> r) {
      std::lock_guard lk2(mu);
      if (!r) ++failed;
      --pending;
      cv.notify_all();
    };
  }
  void wait() {
    std::unique_lock lk(mu);
    cv.wait(lk, [&] { return pending == 0; });
  }
};

StoreWrite put_write(const Instance& i, uint64_t idx) {
  StoreWrite w;
  w.kind = StoreWrite::Kind::kPut;
  w.service = i.service;
  w.id = i.id;
  w.body = stored_body(i);
  w.create_index = idx;
  w.index = idx;
  return w;
}

TEST(RegistryStore, WritesSurviveReopen) {
  TempDir d;
  {
    auto s = Store::open(d.path.string());
    ASSERT_TRUE(s.has_value()) << s.error();
    auto l = (*s)->load();
    ASSERT_TRUE(l.has_value());
    EXPECT_EQ(l->index, 0u);
    EXPECT_TRUE(l->instances.empty());
    Waiter w;
    (*s)->submit(put_write(make("api", "a1", 9001), 1), w.done());
    (*s)->submit(put_write(make("api", "a2", 9002), 2), w.done());
    (*s)->submit(put_write(make("web", "w1", 9003), 3), w.done());
    StoreWrite del;
    del.kind = StoreWrite::Kind::kDelete;
    del.service = "api";
    del.id = "a2";
    del.index = 4;
    (*s)->submit(del, w.done());
    // A replacement keeps the row's first create_index.
    StoreWrite again = put_write(make("api", "a1", 9011), 5);
    again.create_index = 5;
    (*s)->submit(again, w.done());
    StoreWrite bump;
    bump.kind = StoreWrite::Kind::kIndex;
    bump.index = 6;
    (*s)->submit(bump, w.done());
    w.wait();
    EXPECT_EQ(w.failed, 0);
  }
  auto s = Store::open(d.path.string());
  ASSERT_TRUE(s.has_value()) << s.error();
  auto l = (*s)->load();
  ASSERT_TRUE(l.has_value());
  EXPECT_EQ(l->index, 6u);
  ASSERT_EQ(l->instances.size(), 2u);
  EXPECT_EQ(l->instances[0].inst.id, "a1");
  EXPECT_EQ(l->instances[0].inst.port, 9011);
  EXPECT_EQ(l->instances[0].create_index, 1u);
  EXPECT_EQ(l->instances[0].modify_index, 5u);
  EXPECT_EQ(l->instances[0].inst, make("api", "a1", 9011));
  EXPECT_EQ(l->instances[1].inst.service, "web");
  EXPECT_TRUE(l->skipped.empty());
}

TEST(RegistryStore, GroupCommitBatchesQueuedWrites) {
  TempDir d;
  auto s = Store::open(d.path.string());
  ASSERT_TRUE(s.has_value());
  ASSERT_TRUE((*s)->load().has_value());
  Waiter w;
  constexpr int kWrites = 500;
  for (int i = 1; i <= kWrites; ++i) {
    (*s)->submit(put_write(make("svc", "i" + std::to_string(i), 1000), uint64_t(i)), w.done());
  }
  w.wait();
  EXPECT_EQ(w.failed, 0);
  // Writes queued while a batch commits go together: far fewer commits than writes.
  EXPECT_LT((*s)->commits(), uint64_t(kWrites));
  EXPECT_GE((*s)->commits(), 1u);
  s->reset();  // releases the lock
  auto again = Store::open(d.path.string());
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ((*again)->load()->instances.size(), size_t(kWrites));
}

TEST(RegistryStore, SecondProcessIsRefusedByTheLock) {
  TempDir d;
  auto a = Store::open(d.path.string());
  ASSERT_TRUE(a.has_value());
  auto b = Store::open(d.path.string());
  ASSERT_FALSE(b.has_value());
  EXPECT_NE(b.error().find("in use by another causeway"), std::string::npos) << b.error();
}

TEST(RegistryStore, NewerSchemaIsRefusedAndBadRowsAreSkippedNotLost) {
  TempDir d;
  {
    auto s = Store::open(d.path.string());
    ASSERT_TRUE(s.has_value());
    Waiter w;
    (*s)->submit(put_write(make("api", "a1", 9001), 1), w.done());
    w.wait();
  }
  const std::string db = (d.path / "registry.db").string();
  sqlite3* h = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &h), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(h,
                         "INSERT INTO instances VALUES ('api','bad','{\"port\":1}',2,2);"
                         "UPDATE meta SET value=2 WHERE key='index';",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(h);
  {
    auto s = Store::open(d.path.string());
    ASSERT_TRUE(s.has_value());
    auto l = (*s)->load();
    ASSERT_TRUE(l.has_value());
    EXPECT_EQ(l->instances.size(), 1u);
    ASSERT_EQ(l->skipped.size(), 1u);
    EXPECT_NE(l->skipped[0].find("api/bad"), std::string::npos);
    EXPECT_NE(l->skipped[0].find("address"), std::string::npos);
    EXPECT_EQ(l->index, 2u);
  }
  ASSERT_EQ(sqlite3_open(db.c_str(), &h), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(h, "PRAGMA user_version=99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(h);
  auto s = Store::open(d.path.string());
  ASSERT_FALSE(s.has_value());
  EXPECT_NE(s.error().find("schema version 99"), std::string::npos) << s.error();
}

TEST(RegistryStore, DataDirThatIsAFileIsAClearError) {
  TempDir d;
  const fs::path file = d.path / "plain";
  { FILE* f = std::fopen(file.c_str(), "w"); std::fclose(f); }
  auto s = Store::open(file.string());
  ASSERT_FALSE(s.has_value());
  EXPECT_NE(s.error().find("not a directory"), std::string::npos) << s.error();
}

TEST(RegistryStore, SubmitAfterCloseFailsAtOnce) {
  TempDir d;
  auto s = Store::open(d.path.string());
  ASSERT_TRUE(s.has_value());
  (*s)->close();
  bool failed = false;
  (*s)->submit(put_write(make("api", "a1", 9001), 1),
               [&](Result<void, std::string> r) { failed = !r.has_value(); });
  EXPECT_TRUE(failed);
}

}  // namespace
}  // namespace cw::registry
