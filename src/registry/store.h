// Store: the embedded registry's durable half, SQLite in WAL mode under `registry.data_dir`,
// written by one thread of its own so neither the control loop nor a request waits on the disk.
// Writes queue up and commit together (group commit, one fsync per batch); each write's
// completion runs after its batch is durable, so the registry acknowledges a call only once it
// survives kill -9. A batch commits whole or not at all. A lock file keeps a second process out.
// Thread contract: open() and load() on one thread before any submit(); submit() from one thread
// (the control loop); completions run on the writer thread (post them to your loop).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "registry/instance.h"

namespace cw::registry {

// One stored registration and the indexes it was created and last changed at.
struct StoredInstance {
  Instance inst;
  uint64_t create_index = 0;
  uint64_t modify_index = 0;
};

struct Loaded {
  uint64_t index = 0;  // the highest index written (the registry continues after it)
  std::vector<StoredInstance> instances;
  // Rows that no longer validate (a hand-edited file, an older rule): kept on disk, not served,
  // each named with its problem so start-up can log it.
  std::vector<std::string> skipped;
};

struct StoreWrite {
  enum class Kind : uint8_t { kPut, kDelete, kIndex };
  Kind kind = Kind::kPut;
  std::string service;
  std::string id;
  std::string body;          // kPut: the registration as JSON (instance_json without names)
  uint64_t create_index = 0; // kPut
  uint64_t index = 0;        // the registry index this write is (meta "index" follows it)
};

class Store {
 public:
  // The schema version this build writes; open() migrates older files up to it and refuses
  // newer ones.
  static constexpr int kSchemaVersion = 1;

  // Creates `dir` when missing, takes its lock, opens (or creates) registry.db in WAL mode and
  // migrates it. Errors are sentences for the operator ("data_dir ... is in use by ...").
  static Result<std::unique_ptr<Store>, std::string> open(const std::string& dir);
  ~Store();  // commits what is queued, then stops the writer
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Everything stored. Call once, before submit().
  Result<Loaded, std::string> load();

  // ok, or why the batch holding this write failed (nothing of that batch is applied).
  using Done = std::function<void(Result<void, std::string>)>;
  // Queues a write; `done` runs on the writer thread once its batch committed or failed.
  void submit(StoreWrite w, Done done);
  // Commits what is queued and stops the writer; later submits fail at once. Idempotent.
  void close();

  // Batches committed so far (tests check group commit; admin may show it).
  uint64_t commits() const;
  const std::string& path() const;

 private:
  struct Impl;
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The row body of a registration: instance_json without "service" and "id" (they are the key),
// which parse_instance reads back.
std::string stored_body(const Instance& inst);

}  // namespace cw::registry
