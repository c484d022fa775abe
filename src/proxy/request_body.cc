// Request body reading with replay. Thread contract: see request_body.h.
#include "proxy/request_body.h"

namespace cw::proxy {

rt::Task<Result<RequestBody::Piece>> RequestBody::next(int64_t deadline) {
  if (replay_pos_ < kept_.size()) {
    std::string_view rest = std::string_view(kept_).substr(replay_pos_);
    replay_pos_ = kept_.size();
    co_return Piece{rest, complete_};
  }
  if (complete_) co_return Piece{{}, true};
  auto p = co_await down_.read_body(deadline);
  if (!p) co_return fail(p.error());
  complete_ = p->end;
  bytes_ += p->data.size();
  if (!p->data.empty()) {
    if (retain_ && !lost_ && kept_.size() + p->data.size() <= kMaxKept) {
      kept_.append(p->data);
      replay_pos_ = kept_.size();
    } else {
      lost_ = true;
      kept_.clear();
      kept_.shrink_to_fit();
      replay_pos_ = 0;
    }
  }
  co_return *p;
}

}  // namespace cw::proxy
