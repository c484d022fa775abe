// The SQLite store and its writer thread. Thread contract: see store.h.
#include "registry/store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <atomic>
#include <algorithm>
#include <thread>

namespace cw::registry {
namespace {

// Each entry moves the schema from version i to i + 1, inside the same transaction that
// records the new user_version, so a crash mid-migration leaves the old version intact.
constexpr const char* kMigrations[] = {
    // 0 -> 1: instances keyed by (service, id); meta holds the registry index.
    "CREATE TABLE instances ("
    "  service TEXT NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL,"
    "  create_index INTEGER NOT NULL, modify_index INTEGER NOT NULL,"
    "  PRIMARY KEY (service, id)) WITHOUT ROWID;"
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
    "INSERT INTO meta (key, value) VALUES ('index', 0);",
};
static_assert(std::size(kMigrations) == size_t(Store::kSchemaVersion));

std::string errmsg(sqlite3* db) { return db ? sqlite3_errmsg(db) : "out of memory"; }

bool exec(sqlite3* db, const char* sql, std::string& err) {
  char* msg = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &msg) == SQLITE_OK) return true;
  err = msg ? msg : errmsg(db);
  sqlite3_free(msg);
  return false;
}

// A prepared statement that finalizes itself.
struct Stmt {
  sqlite3_stmt* s = nullptr;
  Stmt() = default;
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt() { sqlite3_finalize(s); }
  bool prepare(sqlite3* db, const char* sql) {
    return sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) == SQLITE_OK;
  }
  void text(int i, const std::string& v) {
    sqlite3_bind_text(s, i, v.data(), int(v.size()), SQLITE_TRANSIENT);
  }
  void integer(int i, uint64_t v) { sqlite3_bind_int64(s, i, sqlite3_int64(v)); }
  // Runs a statement that returns no rows; resets it for the next use.
  bool run() {
    const int rc = sqlite3_step(s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc == SQLITE_DONE;
  }
};

int user_version(sqlite3* db) {
  Stmt st;
  if (!st.prepare(db, "PRAGMA user_version")) return -1;
  return sqlite3_step(st.s) == SQLITE_ROW ? sqlite3_column_int(st.s, 0) : -1;
}

}  // namespace

struct Store::Impl {
  std::string dir;
  std::string path;
  int lock_fd = -1;
  sqlite3* db = nullptr;
  Stmt put, del, set_index;

  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::pair<StoreWrite, Done>> queue;
  bool closing = false;
  std::thread writer;
  std::atomic<uint64_t> commits{0};

  ~Impl() {
    // Statements before the connection; the lock goes last, when nothing writes any more.
    for (Stmt* st : {&put, &del, &set_index}) {
      sqlite3_finalize(st->s);
      st->s = nullptr;
    }
    if (db) sqlite3_close_v2(db);
    if (lock_fd >= 0) ::close(lock_fd);
  }

  bool apply(const StoreWrite& w, std::string& err) {
    bool ok = true;
    switch (w.kind) {
      case StoreWrite::Kind::kPut:
        put.text(1, w.service);
        put.text(2, w.id);
        put.text(3, w.body);
        put.integer(4, w.create_index);
        put.integer(5, w.index);
        ok = put.run();
        break;
      case StoreWrite::Kind::kDelete:
        del.text(1, w.service);
        del.text(2, w.id);
        ok = del.run();
        break;
      case StoreWrite::Kind::kIndex:
        break;
    }
    if (ok) {
      set_index.integer(1, w.index);
      ok = set_index.run();
    }
    if (!ok) err = errmsg(db);
    return ok;
  }

  // Commits one batch: every write or none of them.
  Result<void, std::string> commit(const std::deque<std::pair<StoreWrite, Done>>& batch) {
    std::string err;
    if (!exec(db, "BEGIN IMMEDIATE", err)) return Unexpected{"begin: " + err};
    for (const auto& [w, done] : batch) {
      if (!apply(w, err)) {
        std::string ignored;
        exec(db, "ROLLBACK", ignored);
        return Unexpected{"write " + w.service + "/" + w.id + ": " + err};
      }
    }
    if (!exec(db, "COMMIT", err)) {
      std::string ignored;
      exec(db, "ROLLBACK", ignored);
      return Unexpected{"commit: " + err};
    }
    commits.fetch_add(1, std::memory_order_relaxed);
    return {};
  }

  void run() {
    std::unique_lock lk(mu);
    for (;;) {
      cv.wait(lk, [&] { return closing || !queue.empty(); });
      if (queue.empty()) return;  // closing, nothing left
      // Everything queued goes in one transaction: one fsync however many calls arrived.
      std::deque<std::pair<StoreWrite, Done>> batch;
      batch.swap(queue);
      lk.unlock();
      const Result<void, std::string> r = commit(batch);
      for (auto& [w, done] : batch) {
        if (done) done(r);
      }
      lk.lock();
    }
  }
};

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Store::~Store() { close(); }

Result<std::unique_ptr<Store>, std::string> Store::open(const std::string& dir) {
  auto impl = std::make_unique<Impl>();
  impl->dir = dir.empty() ? "." : dir;
  if (::mkdir(impl->dir.c_str(), 0750) != 0 && errno != EEXIST) {
    return Unexpected{"registry.data_dir " + impl->dir + ": cannot create: " +
                      std::strerror(errno)};
  }
  struct stat st {};
  if (::stat(impl->dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Unexpected{"registry.data_dir " + impl->dir + ": not a directory"};
  }
  // SQLite's own locks allow a second writer process to wait its turn; two registries on one
  // file would each believe their memory, so a second process is refused outright.
  const std::string lock_path = impl->dir + "/LOCK";
  impl->lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (impl->lock_fd < 0) {
    return Unexpected{"registry.data_dir " + impl->dir + ": cannot open " + lock_path + ": " +
                      std::strerror(errno)};
  }
  if (::flock(impl->lock_fd, LOCK_EX | LOCK_NB) != 0) {
    return Unexpected{"registry.data_dir " + impl->dir +
                      " is in use by another causeway process (" + lock_path + " is locked)"};
  }
  impl->path = impl->dir + "/registry.db";
  if (sqlite3_open_v2(impl->path.c_str(), &impl->db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK) {
    return Unexpected{"registry store " + impl->path + ": " + errmsg(impl->db)};
  }
  sqlite3* db = impl->db;
  sqlite3_busy_timeout(db, 5000);
  std::string err;
  // WAL: readers never block the writer; FULL: a COMMIT returns only once it is on disk, so an
  // acknowledged call survives power loss too, not only kill -9 (the batch pays one fsync).
  if (!exec(db, "PRAGMA journal_mode=WAL", err) || !exec(db, "PRAGMA synchronous=FULL", err)) {
    return Unexpected{"registry store " + impl->path + ": " + err};
  }
  int v = user_version(db);
  if (v < 0) return Unexpected{"registry store " + impl->path + ": " + errmsg(db)};
  if (v > kSchemaVersion) {
    return Unexpected{"registry store " + impl->path + " has schema version " +
                      std::to_string(v) + ", newer than this causeway reads (" +
                      std::to_string(kSchemaVersion) + "); use the newer causeway"};
  }
  for (; v < kSchemaVersion; ++v) {
    const std::string sql = std::string("BEGIN IMMEDIATE;") + kMigrations[v] +
                            "PRAGMA user_version=" + std::to_string(v + 1) + ";COMMIT;";
    if (!exec(db, sql.c_str(), err)) {
      std::string ignored;
      exec(db, "ROLLBACK", ignored);
      return Unexpected{"registry store " + impl->path + ": migrating to schema " +
                        std::to_string(v + 1) + ": " + err};
    }
  }
  if (!impl->put.prepare(db,
                         "INSERT INTO instances (service, id, body, create_index, modify_index)"
                         " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (service, id) DO UPDATE SET"
                         " body = excluded.body, modify_index = excluded.modify_index") ||
      !impl->del.prepare(db, "DELETE FROM instances WHERE service = ?1 AND id = ?2") ||
      !impl->set_index.prepare(db, "UPDATE meta SET value = max(value, ?1) WHERE key = 'index'")) {
    return Unexpected{"registry store " + impl->path + ": " + errmsg(db)};
  }
  Impl* raw = impl.get();
  impl->writer = std::thread([raw] { raw->run(); });
  return std::unique_ptr<Store>(new Store(std::move(impl)));
}

Result<Loaded, std::string> Store::load() {
  sqlite3* db = impl_->db;
  Loaded out;
  {
    Stmt st;
    if (!st.prepare(db, "SELECT value FROM meta WHERE key = 'index'")) {
      return Unexpected{"registry store " + impl_->path + ": " + errmsg(db)};
    }
    if (sqlite3_step(st.s) == SQLITE_ROW) out.index = uint64_t(sqlite3_column_int64(st.s, 0));
  }
  Stmt st;
  if (!st.prepare(db, "SELECT service, id, body, create_index, modify_index FROM instances"
                      " ORDER BY service, id")) {
    return Unexpected{"registry store " + impl_->path + ": " + errmsg(db)};
  }
  int rc;
  while ((rc = sqlite3_step(st.s)) == SQLITE_ROW) {
    auto col = [&](int i) {
      const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st.s, i));
      return std::string(p ? p : "", size_t(sqlite3_column_bytes(st.s, i)));
    };
    const std::string service = col(0), id = col(1);
    auto inst = parse_instance(service, id, col(2));
    if (!inst) {
      out.skipped.push_back(service + "/" + id + ": " + inst.error().field + " " +
                            inst.error().message);
      continue;
    }
    StoredInstance s{std::move(*inst), uint64_t(sqlite3_column_int64(st.s, 3)),
                     uint64_t(sqlite3_column_int64(st.s, 4))};
    out.index = std::max({out.index, s.modify_index, s.create_index});
    out.instances.push_back(std::move(s));
  }
  if (rc != SQLITE_DONE) return Unexpected{"registry store " + impl_->path + ": " + errmsg(db)};
  return out;
}

void Store::submit(StoreWrite w, Done done) {
  {
    std::lock_guard lk(impl_->mu);
    if (!impl_->closing) {
      impl_->queue.emplace_back(std::move(w), std::move(done));
      impl_->cv.notify_one();
      return;
    }
  }
  if (done) done(Unexpected{std::string("the registry store is closed")});
}

void Store::close() {
  if (!impl_) return;
  {
    std::lock_guard lk(impl_->mu);
    if (impl_->closing) return;
    impl_->closing = true;
    impl_->cv.notify_one();
  }
  if (impl_->writer.joinable()) impl_->writer.join();
}

uint64_t Store::commits() const { return impl_->commits.load(std::memory_order_relaxed); }

const std::string& Store::path() const { return impl_->path; }

std::string stored_body(const Instance& inst) {
  nlohmann::json j = instance_json(inst);
  j.erase("service");
  j.erase("id");
  return j.dump();
}

}  // namespace cw::registry
