// engine.cpp - the discrete-event engine of cedr-sched-sim.
//
// Events are task releases and task completions. At each event time: completions first (the
// PE's predicted availability is corrected from the measured time: avail = now + the predicted
// costs of the tasks still queued on it, and its next queued task starts), then releases.
// A scheduling round then runs, with every ready task, when tasks were released at this time
// or when a completion freed a PE while tasks are still waiting (queueing off). Each PE runs
// its queue in FIFO order; a task starts at max(assignment time, the PE's free time) and
// runs for its actual time on that PE type.
#include <algorithm>
#include <deque>
#include <limits>
#include <stdexcept>

#include "scheduler.h"
#include "sim.h"

namespace cedr::sim {

namespace {

struct PEState {
  int type = 0;
  std::string name;
  std::deque<size_t> queue;  // task indices; the front one is running
  double avail_ns = 0;       // predicted availability (what the scheduler sees)
  double run_end = 0;        // when the running task ends (valid when queue is non-empty)
};

}  // namespace

Result simulate(const Problem &p) {
  auto sched = make_scheduler(p.scheduler);
  if (!sched) throw InputError("unknown scheduler \"" + p.scheduler + "\"");

  std::vector<PEState> pes;
  for (size_t ty = 0; ty < p.types.size(); ++ty)
    for (int i = 1; i <= p.counts[ty]; ++i) {
      PEState s;
      s.type = (int)ty;
      s.name = p.types[ty] + std::to_string(i);
      pes.push_back(s);
    }

  const size_t n = p.tasks.size();
  std::vector<size_t> release(n);
  for (size_t i = 0; i < n; ++i) release[i] = i;
  std::stable_sort(release.begin(), release.end(), [&](size_t a, size_t b) {
    if (p.tasks[a].ready_ns != p.tasks[b].ready_ns) return p.tasks[a].ready_ns < p.tasks[b].ready_ns;
    return p.tasks[a].id < p.tasks[b].id;
  });

  Result res;
  for (const auto &s : pes) res.pe_names.push_back(s.name);
  res.placement.assign(n, Placement{});

  std::mt19937_64 rng(p.seed);
  std::vector<size_t> ready;  // enqueue order
  size_t next_release = 0;
  const double inf = std::numeric_limits<double>::infinity();
  double now = 0;

  auto start_front = [&](PEState &pe) {
    const size_t t = pe.queue.front();
    res.placement[t].start_ns = now;
    res.placement[t].end_ns = now + p.tasks[t].actual_ns[(size_t)pe.type];
    pe.run_end = res.placement[t].end_ns;
  };

  for (;;) {
    const double t_rel = next_release < n ? p.tasks[release[next_release]].ready_ns : inf;
    double t_done = inf;
    for (const auto &pe : pes)
      if (!pe.queue.empty()) t_done = std::min(t_done, pe.run_end);
    if (t_rel == inf && t_done == inf) break;
    now = std::min(t_rel, t_done);

    bool completed = false;
    for (auto &pe : pes) {
      if (pe.queue.empty() || pe.run_end != now) continue;
      pe.queue.pop_front();
      completed = true;
      double pending = 0;
      for (size_t t : pe.queue) pending += p.tasks[t].predicted_ns[(size_t)pe.type];
      pe.avail_ns = now + pending;  // correction from the measured completion time
      if (!pe.queue.empty()) start_front(pe);
    }
    bool released = false;
    while (next_release < n && p.tasks[release[next_release]].ready_ns == now) {
      ready.push_back(release[next_release++]);
      released = true;
    }
    if (ready.empty() || !(released || completed)) continue;

    // one scheduling round over every ready task
    std::vector<PEView> views(pes.size());
    for (size_t i = 0; i < pes.size(); ++i) {
      views[i].id = (int)i;
      views[i].type = pes[i].type;
      views[i].name = pes[i].name;
      views[i].avail_ns = pes[i].avail_ns;
      views[i].queued = (int)pes[i].queue.size();
    }
    std::vector<TaskView> tv(ready.size());
    for (size_t i = 0; i < ready.size(); ++i) {
      const SimTask &t = p.tasks[ready[i]];
      tv[i].id = t.id;
      tv[i].ready_ns = t.ready_ns;
      tv[i].cost_ns = t.predicted_ns;
    }
    SchedContext ctx;
    ctx.now_ns = now;
    ctx.pes = &views;
    ctx.queueing = p.queueing;
    ctx.rng = &rng;
    ctx.n_types = (int)p.types.size();
    std::vector<Assignment> out;
    sched->schedule(tv, ctx, out);

    std::vector<char> taken(ready.size(), 0);
    std::vector<int> given(pes.size(), 0);
    for (const Assignment &a : out) {
      if (a.task >= ready.size() || a.pe < 0 || a.pe >= (int)pes.size())
        throw std::logic_error(std::string(sched->name()) + ": assignment out of range");
      if (taken[a.task]) throw std::logic_error(std::string(sched->name()) + ": a task was assigned twice");
      PEState &pe = pes[(size_t)a.pe];
      const SimTask &t = p.tasks[ready[a.task]];
      if (!tv[a.task].runs_on(pe.type) || (!p.queueing && (pe.queue.size() + given[(size_t)a.pe]) > 0))
        throw std::logic_error(std::string(sched->name()) + ": task " + std::to_string(t.id) +
                               " given to ineligible PE " + pe.name);
      taken[a.task] = 1;
      given[(size_t)a.pe] += 1;
      res.placement[ready[a.task]].pe = a.pe;
      res.placement[ready[a.task]].round = res.rounds;
      pe.queue.push_back(ready[a.task]);
      if (pe.queue.size() == 1) start_front(pe);
    }
    for (size_t i = 0; i < pes.size(); ++i)
      if (given[i]) pes[i].avail_ns = views[i].avail_ns;  // the scheduler's committed prediction
    std::vector<size_t> still;
    for (size_t i = 0; i < ready.size(); ++i)
      if (!taken[i]) still.push_back(ready[i]);
    ready.swap(still);
    res.rounds += 1;
  }
  if (!ready.empty())
    throw std::logic_error(std::string(sched->name()) + ": stalled with " + std::to_string(ready.size()) +
                           " task(s) never assigned (first: " + std::to_string(p.tasks[ready[0]].id) + ")");

  double first = inf, last = 0;
  for (size_t i = 0; i < n; ++i) {
    first = std::min(first, p.tasks[i].ready_ns);
    last = std::max(last, res.placement[i].end_ns);
  }
  res.makespan_ns = n ? last - first : 0;
  return res;
}

}  // namespace cedr::sim
