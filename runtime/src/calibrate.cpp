// calibrate.cpp - synthetic calls per (API, PE type), levels 0..4, median of a few repetitions.
#include "calibrate.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>

#include "api_table.h"
#include "common.h"
#include "json.h"
#include "runtime.h"

namespace cedr {

void fit_cost(const std::vector<CalibPoint> &pts, double &fixed_ns, double &ns_per_unit) {
  fixed_ns = ns_per_unit = 0;
  if (pts.empty()) return;
  // weights 1/ns^2: each point's relative error counts alike, small calls included
  double sw = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (const auto &p : pts) {
    const double w = 1.0 / std::max(1.0, p.ns * p.ns);
    sw += w;
    sx += w * p.work;
    sy += w * p.ns;
    sxx += w * p.work * p.work;
    sxy += w * p.work * p.ns;
  }
  const double det = sw * sxx - sx * sx;
  double a = sy / sw, b = 0;
  if (det > 1e-12 * sw * sxx && det > 0) {
    b = (sw * sxy - sx * sy) / det;
    a = (sy - b * sx) / sw;
  }
  if (b < 0) {  // no growth with size: a constant
    b = 0;
    a = sy / sw;
  }
  if (a < 0) {  // through the origin
    a = 0;
    b = sxx > 0 ? sxy / sxx : 0;
  }
  fixed_ns = std::max(0.0, a);
  ns_per_unit = std::max(0.0, b);
}

namespace {

// The shortest decimal that reads back as v (so 0.138311 does not print as 0.13831099999999999).
std::string short_number(double v) {
  if (!std::isfinite(v) || v == std::floor(v)) return json::number(v);
  char buf[64];
  for (int p = 1; p <= 17; ++p) {
    std::snprintf(buf, sizeof buf, "%.*g", p, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

double round_sig(double v, int digits) {
  if (v == 0 || !std::isfinite(v)) return 0;
  const double scale = std::pow(10.0, digits - 1 - int(std::floor(std::log10(std::fabs(v)))));
  return std::round(v * scale) / scale;
}

struct Job {
  int type;
  int pe;
  const ApiInfo *api;
  ApiSlot *slot;
};

}  // namespace

int calibrate(const RunConfig &cfg, const Libraries &libs, const std::string &out_path, uint64_t seed, bool quiet,
              double budget_s) {
  Runtime rt(cfg, libs, cfg.scheduler, seed);
  // first PE of every type with workers
  std::vector<int> first_pe(cfg.types.size(), -1);
  for (auto &p : rt.pes())
    if (first_pe[p->type] < 0) first_pe[p->type] = p->id;
  std::vector<Job> jobs;  // grouped by API, then PE type
  for (const auto &a : known_apis()) {
    ApiSlot *s = rt.slot(a.api, a.prec);
    for (int t = 0; t < int(cfg.types.size()); ++t)
      if (first_pe[t] >= 0 && s->impl[t] != nullptr) jobs.push_back({t, first_pe[t], &a, s});
  }
  if (jobs.empty()) throw InputError("nothing to calibrate: no configured PE type implements a known API");

  g_runtime = &rt;
  rt.start_workers(0);
  std::mt19937_64 rng(seed);
  const int64_t t_begin = now_ns();
  const int levels = 5;
  // time allowed per point; a point always gets at least one measured call
  const double point_budget_ns = std::clamp(budget_s * 1e9 / double(jobs.size() * levels), 2e7, 1e9);

  std::string fns, points;
  std::string last_api;
  bool first_point = true;
  size_t fitted = 0;
  for (size_t j = 0; j < jobs.size(); ++j) {
    const Job &job = jobs[j];
    std::vector<CalibPoint> pts;
    for (int level = 0; level < levels; ++level) {
      ApiCase c = job.api->make_case(level, rng);
      if (c.args.size() != job.api->n_args) {
        rt.stop_workers();
        throw FatalError("calibration case of " + job.slot->name + " has " + std::to_string(c.args.size()) +
                         " arguments, expected " + std::to_string(job.api->n_args));
      }
      const int64_t t0 = now_ns();
      std::vector<double> ns;
      // one warm-up call (caches, page faults), then up to 7 measured ones within the point budget
      TaskRecord warm = rt.run_direct(job.pe, job.slot, c.args, c.work);
      const bool over_budget = double(now_ns() - t0) > point_budget_ns / 2 || double(now_ns() - t_begin) > budget_s * 1e9;
      if (over_budget) {
        ns.push_back(double(warm.stop_ns - warm.start_ns));
      } else {
        for (int r = 0; r < 7; ++r) {
          TaskRecord rec = rt.run_direct(job.pe, job.slot, c.args, c.work);
          ns.push_back(double(rec.stop_ns - rec.start_ns));
          if (double(now_ns() - t0) > point_budget_ns) break;
        }
      }
      std::sort(ns.begin(), ns.end());
      const double med = ns.size() % 2 ? ns[ns.size() / 2] : 0.5 * (ns[ns.size() / 2 - 1] + ns[ns.size() / 2]);
      pts.push_back({c.work, med});
      points += std::string(first_point ? "" : ",") + "\n    {\"api\": " + json::quote(job.api->api) +
                ", \"prec\": " + json::quote(job.api->prec) + ", \"type\": " + json::quote(cfg.types[job.type].name) +
                ", \"work\": " + short_number(c.work) + ", \"ns\": " + short_number(med) + "}";
      first_point = false;
    }
    double fixed, slope;
    fit_cost(pts, fixed, slope);
    fixed = std::round(fixed);
    slope = round_sig(slope, 6);
    const std::string key = job.slot->name;
    if (key != last_api) {
      if (!last_api.empty()) fns += "},\n";
      fns += "    " + json::quote(key) + ": {";
      last_api = key;
    } else {
      fns += ", ";
    }
    fns += json::quote(cfg.types[job.type].name) + ": {\"fixed_ns\": " + short_number(fixed) +
           ", \"ns_per_unit\": " + short_number(slope) + "}";
    ++fitted;
    if (!quiet)
      std::printf("%-22s %-6s fixed %10.0f ns + %12.6g ns/unit (%s)\n", key.c_str(),
                  cfg.types[job.type].name.c_str(), fixed, slope, job.api->unit.c_str());
  }
  rt.stop_workers();
  g_runtime = nullptr;
  if (!last_api.empty()) fns += "}\n";

  std::string doc = "{\n  \"API Cost Functions\": {\n" + fns + "  },\n  \"Calibration\": {\"points\": [" + points +
                    "\n  ]}\n}\n";
  FILE *f = std::fopen(out_path.c_str(), "w");
  if (!f) throw InputError("cannot write '" + out_path + "'");
  const bool ok = std::fwrite(doc.data(), 1, doc.size(), f) == doc.size();
  if (std::fclose(f) != 0 || !ok) throw FatalError("cannot write '" + out_path + "'");
  if (!quiet)
    std::printf("cedr-run: %zu cost functions in %.1f s written to %s\n", fitted, double(now_ns() - t_begin) / 1e9,
                out_path.c_str());
  return 0;
}

}  // namespace cedr
