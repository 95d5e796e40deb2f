// engine.cpp - the discrete-event engine of cedr-sched-sim (see Engine in sim.h), and the task-set
// mode on top of it (simulate). The round and dispatch logic lives here once; the workload mode
// (workload.cpp) drives the same Engine.
//
// Events are task releases and task completions. At each event time: completions first (the
// PE's predicted availability is corrected from the measured time: avail = now + the predicted
// costs of the tasks still queued on it, and its next queued task starts), then releases.
// A scheduling round then runs, with every ready task, when tasks were released at this time
// or when a completion freed a PE while tasks are still waiting (queueing off). Each PE runs
// its queue in FIFO order; a task starts at max(assignment time, the PE's free time) and
// runs for its actual time on that PE type. Cost: O(PEs) per event plus O(ready tasks) per round.
#include <algorithm>
#include <limits>
#include <stdexcept>

#include "scheduler.h"
#include "sim.h"

namespace cedr::sim {

namespace {

// std::push_heap / pop_heap build a max-heap: "a after b" puts the earliest release on top.
struct Later {
  template <class R>
  bool operator()(const R &x, const R &y) const {
    if (x.t != y.t) return x.t > y.t;
    if (x.a != y.a) return x.a > y.a;
    return x.b > y.b;
  }
};

}  // namespace

Engine::Engine(const Machine &m) : sched_(make_scheduler(m.scheduler)), queueing_(m.queueing), rng_(m.seed) {
  if (!sched_) throw InputError("unknown scheduler \"" + m.scheduler + "\"");
  n_types_ = (int)m.types.size();
  for (size_t ty = 0; ty < m.types.size(); ++ty)
    for (int i = 1; i <= m.counts[ty]; ++i) {
      PEInfo s;
      s.type = (int)ty;
      s.name = m.types[ty] + std::to_string(i);
      info_.push_back(s);
    }
  pes_.resize(info_.size());
  views_.resize(info_.size());
  for (size_t i = 0; i < info_.size(); ++i) {
    views_[i].id = (int)i;
    views_[i].type = info_[i].type;
    views_[i].name = info_[i].name;
  }
}

void Engine::release(double release_ns, uint64_t order_a, uint64_t order_b, uint64_t id, const double *pred,
                     const double *actual, uint64_t tag) {
  if (release_ns < now_) throw std::logic_error("a task released in the past");
  Job j;
  j.id = id;
  j.tag = tag;
  j.ready_ns = release_ns;
  j.pred = pred;
  j.actual = actual;
  heap_.push_back({release_ns, order_a, order_b, j});
  std::push_heap(heap_.begin(), heap_.end(), Later{});
}

void Engine::start_front(size_t p, Driver &d) {
  PEState &pe = pes_[p];
  const Job &j = jobs_[pe.queue.front()];
  const double dur = j.actual[(size_t)info_[p].type];
  pe.run_end = now_ + dur;
  info_[p].busy_ns += dur;
  info_[p].tasks += 1;
  d.started(j.tag, (int)p, now_, pe.run_end);
}

void Engine::run(Driver &d) {
  const double inf = std::numeric_limits<double>::infinity();
  for (;;) {
    const double t_rel = heap_.empty() ? inf : heap_.front().t;
    double t_done = inf;
    for (size_t p = 0; p < pes_.size(); ++p)
      if (!pes_[p].queue.empty()) t_done = std::min(t_done, pes_[p].run_end);
    if (t_rel == inf && t_done == inf) break;
    now_ = std::min(t_rel, t_done);

    bool completed = false;
    for (size_t p = 0; p < pes_.size(); ++p) {
      PEState &pe = pes_[p];
      if (pe.queue.empty() || pe.run_end != now_) continue;
      const uint32_t slot = pe.queue.front();
      pe.queue.pop_front();
      completed = true;
      pe.queued_pred = pe.queue.empty() ? 0.0 : pe.queued_pred - jobs_[slot].pred[(size_t)info_[p].type];
      pe.avail_ns = now_ + pe.queued_pred;  // correction from the measured completion time
      if (!pe.queue.empty()) start_front(p, d);
      const uint64_t tag = jobs_[slot].tag;
      free_.push_back(slot);
      d.finished(tag, now_);  // may release tasks at now_
    }
    bool released = false;
    while (!heap_.empty() && heap_.front().t == now_) {
      std::pop_heap(heap_.begin(), heap_.end(), Later{});
      Job j = heap_.back().job;
      heap_.pop_back();
      if (j.id == kAutoId) j.id = released_;
      ++released_;
      uint32_t slot;
      if (!free_.empty()) {
        slot = free_.back();
        free_.pop_back();
        jobs_[slot] = j;
      } else {
        slot = (uint32_t)jobs_.size();
        jobs_.push_back(j);
      }
      ready_.push_back(slot);
      tv_.emplace_back();
      tv_.back().id = j.id;
      tv_.back().ready_ns = j.ready_ns;
      tv_.back().cost_ns.assign(j.pred, j.pred + n_types_);
      released = true;
    }
    if (ready_.empty() || !(released || completed)) continue;
    schedule_round(d);
  }
  if (!ready_.empty())
    throw std::logic_error(std::string(sched_->name()) + ": stalled with " + std::to_string(ready_.size()) +
                           " task(s) never assigned (first: " + std::to_string(jobs_[ready_[0]].id) + ")");
}

// One scheduling round over every ready task.
void Engine::schedule_round(Driver &d) {
  for (size_t i = 0; i < pes_.size(); ++i) {
    views_[i].avail_ns = pes_[i].avail_ns;
    views_[i].queued = (int)pes_[i].queue.size();
  }
  const size_t n = ready_.size();
  rounds_ += 1;
  round_tasks_ += n;
  if (!queueing_) {
    // no idle PE: no scheduler can assign anything (nor changes its state), so skip the call
    bool idle = false;
    for (const auto &pe : pes_) idle = idle || pe.queue.empty();
    if (!idle) return;
  }
  SchedContext ctx;
  ctx.now_ns = now_;
  ctx.pes = &views_;
  ctx.queueing = queueing_;
  ctx.rng = &rng_;
  ctx.n_types = n_types_;
  out_.clear();
  sched_->schedule(tv_, ctx, out_);

  taken_.assign(n, 0);
  given_.assign(pes_.size(), 0);
  for (const Assignment &a : out_) {
    if (a.task >= n || a.pe < 0 || a.pe >= (int)pes_.size())
      throw std::logic_error(std::string(sched_->name()) + ": assignment out of range");
    if (taken_[a.task]) throw std::logic_error(std::string(sched_->name()) + ": a task was assigned twice");
    PEState &pe = pes_[(size_t)a.pe];
    const int type = info_[(size_t)a.pe].type;
    const uint32_t slot = ready_[a.task];
    if (!tv_[a.task].runs_on(type) || (!queueing_ && (pe.queue.size() + given_[(size_t)a.pe]) > 0))
      throw std::logic_error(std::string(sched_->name()) + ": task " + std::to_string(jobs_[slot].id) +
                             " given to ineligible PE " + info_[(size_t)a.pe].name);
    taken_[a.task] = 1;
    given_[(size_t)a.pe] += 1;
    d.assigned(jobs_[slot].tag, a.pe, rounds_ - 1);
    pe.queue.push_back(slot);
    pe.queued_pred += jobs_[slot].pred[(size_t)type];
    if (pe.queue.size() == 1) start_front((size_t)a.pe, d);
  }
  for (size_t i = 0; i < pes_.size(); ++i)
    if (given_[i]) pes_[i].avail_ns = views_[i].avail_ns;  // the scheduler's committed prediction
  size_t keep = 0;
  for (size_t i = 0; i < n; ++i)
    if (!taken_[i]) {
      if (keep != i) std::swap(tv_[keep], tv_[i]);
      ready_[keep++] = ready_[i];
    }
  ready_.resize(keep);
  tv_.resize(keep);
}

// ---------------------------------------------------------------- task sets

namespace {

class TaskSetDriver : public Driver {
 public:
  explicit TaskSetDriver(Result &r) : res_(r) {}
  void assigned(uint64_t tag, int pe, int round) override {
    res_.placement[tag].pe = pe;
    res_.placement[tag].round = round;
  }
  void started(uint64_t tag, int, double start_ns, double end_ns) override {
    res_.placement[tag].start_ns = start_ns;
    res_.placement[tag].end_ns = end_ns;
  }

 private:
  Result &res_;
};

}  // namespace

Result simulate(const Problem &p) {
  Engine eng(p);
  Result res;
  for (const auto &pe : eng.pes()) res.pe_names.push_back(pe.name);
  const size_t n = p.tasks.size();
  res.placement.assign(n, Placement{});
  // releases at one time in task id order (ids are unique)
  for (size_t i = 0; i < n; ++i) {
    const SimTask &t = p.tasks[i];
    eng.release(t.ready_ns, t.id, 0, t.id, t.predicted_ns.data(), t.actual_ns.data(), i);
  }
  TaskSetDriver d(res);
  eng.run(d);
  res.rounds = eng.rounds();

  const double inf = std::numeric_limits<double>::infinity();
  double first = inf, last = 0;
  for (size_t i = 0; i < n; ++i) {
    first = std::min(first, p.tasks[i].ready_ns);
    last = std::max(last, res.placement[i].end_ns);
  }
  res.makespan_ns = n ? last - first : 0;
  return res;
}

}  // namespace cedr::sim
