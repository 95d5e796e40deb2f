// api_enqueue.cpp - the API names apps call. `_nb` hands the argument pointers and the barrier
// to enqueue_kernel; the blocking form passes the addresses of its own parameters to `_nb` with
// a barrier on its stack and waits for that one completion.
#include "api_enqueue.h"

#include <algorithm>
#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>

#include "common.h"
#include "dash.h"
#include "dash_ml.h"
#include "isolate.h"
#include "runtime.h"

extern "C" __attribute__((visibility("default"))) void enqueue_kernel(const char *api, const char *prec,
                                                                      unsigned n_args, ...) {
  if (cedr::iso_in_child()) {  // an isolated instance: the call goes to the runtime's process
    va_list ap;
    va_start(ap, n_args);
    cedr::iso_child_enqueue(api, prec, n_args, ap);
    va_end(ap);
    return;
  }
  cedr::Runtime *rt = cedr::g_runtime;
  if (rt == nullptr) {
    std::fprintf(stderr, "cedr-run: error: enqueue_kernel(\"%s\", \"%s\") called while no run is in progress\n",
                 api ? api : "(null)", prec ? prec : "(null)");
    std::fflush(stderr);
    std::_Exit(3);
  }
  va_list ap;
  va_start(ap, n_args);
  const bool ok = rt->enqueue(api, prec, n_args, ap);
  va_end(ap);
  if (!ok) {
    // The run is being aborted (fatal error): this instance never continues; the main thread
    // writes the logs and ends the process.
    for (;;) cedr::sleep_until_ns(cedr::now_ns() + 1000000000LL);
  }
}

namespace {

// A barrier on the caller's stack for one blocking call. Its task, when short and given alone to
// an idle CPU PE, runs on this thread as that PE (Runtime::run_inline): no thread wake-up on
// either side. Otherwise we wait for the PE's worker.
struct LocalBarrier {
  pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
  pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
  uint32_t count = 0;
  cedr_barrier_t b{&cond, &mutex, &count};
  std::atomic<int> offer{-1};  // see cedr::offer_inline

  LocalBarrier() { cedr::offer_inline(&offer); }

  void wait() {
    int pe = offer.load(std::memory_order_acquire);
    if (pe == -1) {
      // Another thread's scheduling round places our task: rounds take well under a
      // microsecond, so look (a plain loop) for a moment, then withdraw the offer.
      const int64_t until = cedr::now_ns() + std::min<int64_t>(cedr::g_wait_spin_ns, 20000);
      while ((pe = offer.load(std::memory_order_acquire)) == -1 && cedr::now_ns() < until) {
      }
      if (pe == -1 && offer.compare_exchange_strong(pe, -2, std::memory_order_acq_rel)) pe = -2;
    }
    if (pe >= 0 && cedr::g_runtime != nullptr && cedr::g_runtime->run_inline(pe, &b)) {
      return;  // done here: the barrier was signalled (and its mutex released) on this thread
    }
    // Poll briefly when the task is predicted to be short (it is often done before a futex
    // round trip would be), then sleep; long tasks sleep at once and leave the core to workers.
    if (cedr::g_wait_spin_ns > 0 && cedr::last_enqueued_cost_ns() <= double(cedr::g_wait_spin_ns) &&
        __atomic_load_n(&count, __ATOMIC_ACQUIRE) == 0) {
      const int64_t until = cedr::now_ns() + cedr::g_wait_spin_ns;
      unsigned k = 0;
      while (__atomic_load_n(&count, __ATOMIC_ACQUIRE) == 0) {
        cedr::cpu_relax();
        if ((++k & 31) == 0 && cedr::now_ns() > until) break;
      }
    }
    // Always take the mutex: the worker may still hold it (it signals under the lock), and this
    // barrier dies when we return.
    pthread_mutex_lock(&mutex);
    while (__atomic_load_n(&count, __ATOMIC_ACQUIRE) < 1) pthread_cond_wait(&cond, &mutex);
    pthread_mutex_unlock(&mutex);
  }
  ~LocalBarrier() {
    pthread_cond_destroy(&cond);
    pthread_mutex_destroy(&mutex);
  }
};

}  // namespace

#define O2C_EXPORT __attribute__((visibility("default")))

extern "C" {

/* ---------------- dash.h ---------------- */

O2C_EXPORT void DASH_FFT_flt_nb(dash_cmplx_flt_type **in, dash_cmplx_flt_type **out, size_t *n, bool *forward,
                                cedr_barrier_t *barrier) {
  enqueue_kernel("DASH_FFT", "flt", 5, in, out, n, forward, barrier);
}
O2C_EXPORT void DASH_FFT_flt(dash_cmplx_flt_type *in, dash_cmplx_flt_type *out, size_t n, bool forward) {
  LocalBarrier lb;
  DASH_FFT_flt_nb(&in, &out, &n, &forward, &lb.b);
  lb.wait();
}
O2C_EXPORT void DASH_FFT_int_nb(dash_cmplx_int_type **in, dash_cmplx_int_type **out, size_t *n, bool *forward,
                                cedr_barrier_t *barrier) {
  enqueue_kernel("DASH_FFT", "int", 5, in, out, n, forward, barrier);
}
O2C_EXPORT void DASH_FFT_int(dash_cmplx_int_type *in, dash_cmplx_int_type *out, size_t n, bool forward) {
  LocalBarrier lb;
  DASH_FFT_int_nb(&in, &out, &n, &forward, &lb.b);
  lb.wait();
}

O2C_EXPORT void DASH_GEMM_flt_nb(dash_cmplx_flt_type **A, dash_cmplx_flt_type **B, dash_cmplx_flt_type **C,
                                 size_t *rows_A, size_t *cols_A, size_t *cols_B, cedr_barrier_t *barrier) {
  enqueue_kernel("DASH_GEMM", "flt", 7, A, B, C, rows_A, cols_A, cols_B, barrier);
}
O2C_EXPORT void DASH_GEMM_flt(dash_cmplx_flt_type *A, dash_cmplx_flt_type *B, dash_cmplx_flt_type *C, size_t rows_A,
                              size_t cols_A, size_t cols_B) {
  LocalBarrier lb;
  DASH_GEMM_flt_nb(&A, &B, &C, &rows_A, &cols_A, &cols_B, &lb.b);
  lb.wait();
}
O2C_EXPORT void DASH_GEMM_int_nb(dash_cmplx_int_type **A, dash_cmplx_int_type **B, dash_cmplx_int_type **C,
                                 size_t *rows_A, size_t *cols_A, size_t *cols_B, cedr_barrier_t *barrier) {
  enqueue_kernel("DASH_GEMM", "int", 7, A, B, C, rows_A, cols_A, cols_B, barrier);
}
O2C_EXPORT void DASH_GEMM_int(dash_cmplx_int_type *A, dash_cmplx_int_type *B, dash_cmplx_int_type *C, size_t rows_A,
                              size_t cols_A, size_t cols_B) {
  LocalBarrier lb;
  DASH_GEMM_int_nb(&A, &B, &C, &rows_A, &cols_A, &cols_B, &lb.b);
  lb.wait();
}

O2C_EXPORT void DASH_ZIP_flt_nb(dash_cmplx_flt_type **a, dash_cmplx_flt_type **b, dash_cmplx_flt_type **out,
                                size_t *n, zip_op_t *op, cedr_barrier_t *barrier) {
  enqueue_kernel("DASH_ZIP", "flt", 6, a, b, out, n, op, barrier);
}
O2C_EXPORT void DASH_ZIP_flt(dash_cmplx_flt_type *a, dash_cmplx_flt_type *b, dash_cmplx_flt_type *out, size_t n,
                             zip_op_t op) {
  LocalBarrier lb;
  DASH_ZIP_flt_nb(&a, &b, &out, &n, &op, &lb.b);
  lb.wait();
}
O2C_EXPORT void DASH_ZIP_int_nb(dash_cmplx_int_type **a, dash_cmplx_int_type **b, dash_cmplx_int_type **out,
                                size_t *n, zip_op_t *op, cedr_barrier_t *barrier) {
  enqueue_kernel("DASH_ZIP", "int", 6, a, b, out, n, op, barrier);
}
O2C_EXPORT void DASH_ZIP_int(dash_cmplx_int_type *a, dash_cmplx_int_type *b, dash_cmplx_int_type *out, size_t n,
                             zip_op_t op) {
  LocalBarrier lb;
  DASH_ZIP_int_nb(&a, &b, &out, &n, &op, &lb.b);
  lb.wait();
}

O2C_EXPORT void DASH_CONV_2D_int_nb(dash_re_int_type **in, int *height, int *width, dash_re_flt_type **mask,
                                    int *mask_size, dash_re_int_type **out, cedr_barrier_t *barrier) {
  enqueue_kernel("DASH_CONV_2D", "int", 7, in, height, width, mask, mask_size, out, barrier);
}
O2C_EXPORT void DASH_CONV_2D_int(dash_re_int_type *in, int height, int width, dash_re_flt_type *mask, int mask_size,
                                 dash_re_int_type *out) {
  LocalBarrier lb;
  DASH_CONV_2D_int_nb(&in, &height, &width, &mask, &mask_size, &out, &lb.b);
  lb.wait();
}

O2C_EXPORT void DASH_CONV_1D_flt_nb(dash_re_flt_type **in, int *size, dash_re_flt_type **mask, int *mask_size,
                                    dash_re_flt_type **out, cedr_barrier_t *barrier) {
  enqueue_kernel("DASH_CONV_1D", "flt", 6, in, size, mask, mask_size, out, barrier);
}
O2C_EXPORT void DASH_CONV_1D_flt(dash_re_flt_type *in, int size, dash_re_flt_type *mask, int mask_size,
                                 dash_re_flt_type *out) {
  LocalBarrier lb;
  DASH_CONV_1D_flt_nb(&in, &size, &mask, &mask_size, &out, &lb.b);
  lb.wait();
}

/* ---------------- dash_ml.h ---------------- */

O2C_EXPORT void DASH_GEMM_RE_flt_nb(const float **A, const float **B, const float **bias, float **C,
                                    const dash_gemm_params_t **p, cedr_barrier_t *barrier) {
  enqueue_kernel("DASH_GEMM_RE", "flt", 6, A, B, bias, C, p, barrier);
}
O2C_EXPORT void DASH_GEMM_RE_flt(const float *A, const float *B, const float *bias, float *C,
                                 const dash_gemm_params_t *p) {
  LocalBarrier lb;
  DASH_GEMM_RE_flt_nb(&A, &B, &bias, &C, &p, &lb.b);
  lb.wait();
}

O2C_EXPORT void DASH_CONV_flt_nb(const float **in, const float **weight, const float **bias, float **out,
                                 const dash_conv_params_t **p, cedr_barrier_t *barrier) {
  enqueue_kernel("DASH_CONV", "flt", 6, in, weight, bias, out, p, barrier);
}
O2C_EXPORT void DASH_CONV_flt(const float *in, const float *weight, const float *bias, float *out,
                              const dash_conv_params_t *p) {
  LocalBarrier lb;
  DASH_CONV_flt_nb(&in, &weight, &bias, &out, &p, &lb.b);
  lb.wait();
}

O2C_EXPORT void DASH_CONV_TRANSPOSE_flt_nb(const float **in, const float **weight, const float **bias, float **out,
                                           const dash_conv_params_t **p, cedr_barrier_t *barrier) {
  enqueue_kernel("DASH_CONV_TRANSPOSE", "flt", 6, in, weight, bias, out, p, barrier);
}
O2C_EXPORT void DASH_CONV_TRANSPOSE_flt(const float *in, const float *weight, const float *bias, float *out,
                                        const dash_conv_params_t *p) {
  LocalBarrier lb;
  DASH_CONV_TRANSPOSE_flt_nb(&in, &weight, &bias, &out, &p, &lb.b);
  lb.wait();
}

O2C_EXPORT void DASH_POOL_flt_nb(const float **in, float **out, const dash_pool_params_t **p, cedr_barrier_t *barrier) {
  enqueue_kernel("DASH_POOL", "flt", 4, in, out, p, barrier);
}
O2C_EXPORT void DASH_POOL_flt(const float *in, float *out, const dash_pool_params_t *p) {
  LocalBarrier lb;
  DASH_POOL_flt_nb(&in, &out, &p, &lb.b);
  lb.wait();
}

O2C_EXPORT void DASH_BINARY_flt_nb(const float **a, const float **b, float **out, const dash_binary_params_t **p,
                                   cedr_barrier_t *barrier) {
  enqueue_kernel("DASH_BINARY", "flt", 5, a, b, out, p, barrier);
}
O2C_EXPORT void DASH_BINARY_flt(const float *a, const float *b, float *out, const dash_binary_params_t *p) {
  LocalBarrier lb;
  DASH_BINARY_flt_nb(&a, &b, &out, &p, &lb.b);
  lb.wait();
}

O2C_EXPORT void DASH_UNARY_flt_nb(const float **in, float **out, const dash_unary_params_t **p,
                                  cedr_barrier_t *barrier) {
  enqueue_kernel("DASH_UNARY", "flt", 4, in, out, p, barrier);
}
O2C_EXPORT void DASH_UNARY_flt(const float *in, float *out, const dash_unary_params_t *p) {
  LocalBarrier lb;
  DASH_UNARY_flt_nb(&in, &out, &p, &lb.b);
  lb.wait();
}

O2C_EXPORT void DASH_SOFTMAX_flt_nb(const float **in, float **out, const dash_softmax_params_t **p,
                                    cedr_barrier_t *barrier) {
  enqueue_kernel("DASH_SOFTMAX", "flt", 4, in, out, p, barrier);
}
O2C_EXPORT void DASH_SOFTMAX_flt(const float *in, float *out, const dash_softmax_params_t *p) {
  LocalBarrier lb;
  DASH_SOFTMAX_flt_nb(&in, &out, &p, &lb.b);
  lb.wait();
}

O2C_EXPORT void DASH_QCONV_i8_nb(const int8_t **in, const int8_t **weight, const int32_t **bias,
                                   const float **multiplier, int8_t **out, const dash_qconv_params_t **p,
                                   cedr_barrier_t *barrier) {
  enqueue_kernel("DASH_QCONV", "i8", 7, in, weight, bias, multiplier, out, p, barrier);
}
O2C_EXPORT void DASH_QCONV_i8(const int8_t *in, const int8_t *weight, const int32_t *bias, const float *multiplier,
                                int8_t *out, const dash_qconv_params_t *p) {
  LocalBarrier lb;
  DASH_QCONV_i8_nb(&in, &weight, &bias, &multiplier, &out, &p, &lb.b);
  lb.wait();
}

O2C_EXPORT void DASH_QCONV_i16_nb(const int16_t **in, const int16_t **weight, const int32_t **bias,
                                   const float **multiplier, int16_t **out, const dash_qconv_params_t **p,
                                   cedr_barrier_t *barrier) {
  enqueue_kernel("DASH_QCONV", "i16", 7, in, weight, bias, multiplier, out, p, barrier);
}
O2C_EXPORT void DASH_QCONV_i16(const int16_t *in, const int16_t *weight, const int32_t *bias, const float *multiplier,
                                int16_t *out, const dash_qconv_params_t *p) {
  LocalBarrier lb;
  DASH_QCONV_i16_nb(&in, &weight, &bias, &multiplier, &out, &p, &lb.b);
  lb.wait();
}

O2C_EXPORT void DASH_QGEMM_i8_nb(const int8_t **in, const int8_t **weight, const int32_t **bias,
                                   const float **multiplier, int8_t **out, const dash_qgemm_params_t **p,
                                   cedr_barrier_t *barrier) {
  enqueue_kernel("DASH_QGEMM", "i8", 7, in, weight, bias, multiplier, out, p, barrier);
}
O2C_EXPORT void DASH_QGEMM_i8(const int8_t *in, const int8_t *weight, const int32_t *bias, const float *multiplier,
                                int8_t *out, const dash_qgemm_params_t *p) {
  LocalBarrier lb;
  DASH_QGEMM_i8_nb(&in, &weight, &bias, &multiplier, &out, &p, &lb.b);
  lb.wait();
}

O2C_EXPORT void DASH_QGEMM_i16_nb(const int16_t **in, const int16_t **weight, const int32_t **bias,
                                   const float **multiplier, int16_t **out, const dash_qgemm_params_t **p,
                                   cedr_barrier_t *barrier) {
  enqueue_kernel("DASH_QGEMM", "i16", 7, in, weight, bias, multiplier, out, p, barrier);
}
O2C_EXPORT void DASH_QGEMM_i16(const int16_t *in, const int16_t *weight, const int32_t *bias, const float *multiplier,
                                int16_t *out, const dash_qgemm_params_t *p) {
  LocalBarrier lb;
  DASH_QGEMM_i16_nb(&in, &weight, &bias, &multiplier, &out, &p, &lb.b);
  lb.wait();
}

}  // extern "C"

namespace cedr {

const std::vector<ExportedApi> &exported_apis() {
  static const std::vector<ExportedApi> list = {
      {"DASH_FFT", "flt"},       {"DASH_FFT", "int"},   {"DASH_GEMM", "flt"},    {"DASH_GEMM", "int"},
      {"DASH_ZIP", "flt"},       {"DASH_ZIP", "int"},   {"DASH_CONV_2D", "int"}, {"DASH_CONV_1D", "flt"},
      {"DASH_GEMM_RE", "flt"},   {"DASH_CONV", "flt"},  {"DASH_CONV_TRANSPOSE", "flt"},
      {"DASH_POOL", "flt"},      {"DASH_BINARY", "flt"}, {"DASH_UNARY", "flt"},  {"DASH_SOFTMAX", "flt"},
      {"DASH_QCONV", "i8"},      {"DASH_QCONV", "i16"}, {"DASH_QGEMM", "i8"},    {"DASH_QGEMM", "i16"},
  };
  return list;
}

}  // namespace cedr
