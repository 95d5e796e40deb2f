// api_table.cpp - the kernel APIs the runtime knows by argument list: for each one, how to read
// its problem size ("work") through the argument pointers the runtime receives, and how to build
// a valid synthetic call of a given size (used by `calibrate` and by the API-table test).
//
// args[i] always points at the i-th argument value, exactly as the _nb wrapper passed it to
// enqueue_kernel: for DASH_FFT_flt, args[2] is a size_t *; for DASH_CONV_flt, args[4] is a
// `const dash_conv_params_t **`. Nothing here calls a kernel: this file only depends on the
// ABI headers, so the simulator can link it without the kernel library.
//
// Work measures (the unit the cost functions scale with):
//   DASH_FFT            n*log2(n) when n is a power of two, else n*n (the direct-DFT fallback)
//   DASH_GEMM           rows_A*cols_A*cols_B complex MACs
//   DASH_ZIP            n complex elements
//   DASH_CONV_2D        height*width*mask_size^2 MACs
//   DASH_CONV_1D        size*mask_size MACs
//   DASH_GEMM_RE        batch*M*N*K MACs
//   DASH_CONV           batch*out_ch*prod(out_size)*(in_ch/groups)*prod(kernel) MACs
//   DASH_CONV_TRANSPOSE batch*in_ch*prod(in_size)*(out_ch/groups)*prod(kernel) MACs
//   DASH_POOL           channels*prod(out_size)*prod(kernel) taps
//   DASH_BINARY         prod(out_shape) elements
//   DASH_UNARY          n elements
//   DASH_SOFTMAX        outer*axis*inner elements
//   DASH_QCONV          as DASH_CONV, of the params' conv (i8 and i16)
//   DASH_QGEMM          M*N*K MACs (i8 and i16)
//
// Synthetic sizes (level 0..4), chosen so that level 4 stays well under ~20 ms on one x86 core:
//   FFT          n = 64, 256, 1024, 4096, 16384
//   GEMM         cubes 16, 32, 64, 128, 256 (complex)
//   ZIP          n = 1K, 8K, 64K, 256K, 1M
//   CONV_2D      16x16 k3, 48x48 k3, 128x128 k5, 256x256 k5, 512x512 k7
//   CONV_1D      (256,16), (1K,32), (4K,64), (16K,64), (64K,128)
//   GEMM_RE      cubes 16, 48, 128, 256, 512 (bias per column, ReLU)
//   CONV         8ch 16x16, 16ch 28x28, 32ch 28x28, 32ch 56x56, 64ch 56x56; 3x3, stride 1, pad 1
//   CONV_T       8ch 8x8, 16ch 14x14, 32ch 14x14, 32ch 28x28, 64ch 28x28; 3x3, stride 2 (2x upsampling)
//   POOL         max 3x3 stride 2 pad 1 over 8x16^2, 16x32^2, 32x56^2, 64x56^2, 64x112^2
//   BINARY       (C,H,W) + per-channel broadcast b: 1K, 8K, 64K, 256K, 1M outputs
//   UNARY        sigmoid over 1K, 8K, 64K, 256K, 1M
//   SOFTMAX      (outer, axis) = (1,100), (8,256), (64,1000), (256,1000), (1024,1000), inner 1
//   QCONV        as CONV (no activation; random integers, multipliers ~1/(K * range))
//   QGEMM        cubes 16, 48, 128, 256, 512
#include "api_table.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "dash.h"
#include "dash_ml.h"

namespace cedr {

namespace {

// ---- reading arguments through the pointers the runtime received ----

template <class T>
bool read_arg(void *const *args, unsigned i, T &v) {
  if (!args || !args[i]) return false;
  std::memcpy(&v, args[i], sizeof(T));
  return true;
}

// A `const P **` argument: args[i] points at a pointer to the parameter struct.
template <class P>
const P *param_arg(void *const *args, unsigned i) {
  const P *p = nullptr;
  if (!read_arg(args, i, p)) return nullptr;
  return p;
}

double prod(const int64_t *v, int n) {
  double r = 1;
  for (int i = 0; i < n; ++i) r *= (double)v[i];
  return r;
}

int clamp_rank(int32_t r, int maxr) { return r < 0 ? 0 : (r > maxr ? maxr : r); }

double fft_work(size_t n) {
  if (n == 0) return 0;
  if ((n & (n - 1)) == 0) return (double)n * std::log2((double)n);
  return (double)n * (double)n;
}

double work_fft(void *const *args) {
  size_t n = 0;
  return read_arg(args, 2, n) ? fft_work(n) : 0;
}

double work_gemm(void *const *args) {
  size_t r = 0, c = 0, k = 0;
  if (!read_arg(args, 3, r) || !read_arg(args, 4, c) || !read_arg(args, 5, k)) return 0;
  return (double)r * (double)c * (double)k;
}

double work_zip(void *const *args) {
  size_t n = 0;
  return read_arg(args, 3, n) ? (double)n : 0;
}

double work_conv2d(void *const *args) {
  int h = 0, w = 0, m = 0;
  if (!read_arg(args, 1, h) || !read_arg(args, 2, w) || !read_arg(args, 4, m)) return 0;
  if (h <= 0 || w <= 0 || m <= 0) return 0;
  return (double)h * w * m * m;
}

double work_conv1d(void *const *args) {
  int n = 0, m = 0;
  if (!read_arg(args, 1, n) || !read_arg(args, 3, m)) return 0;
  if (n <= 0 || m <= 0) return 0;
  return (double)n * m;
}

double work_gemm_re(void *const *args) {
  const auto *p = param_arg<dash_gemm_params_t>(args, 4);
  if (!p) return 0;
  return (double)p->batch * (double)p->M * (double)p->N * (double)p->K;
}

double work_conv(void *const *args) {
  const auto *p = param_arg<dash_conv_params_t>(args, 4);
  if (!p || p->groups <= 0) return 0;
  const int r = clamp_rank(p->spatial_rank, DASH_MAX_SPATIAL);
  return (double)p->batch * (double)p->out_channels * prod(p->out_size, r) *
         ((double)p->in_channels / (double)p->groups) * prod(p->kernel, r);
}

double conv_macs(const dash_conv_params_t *p) {
  if (!p || p->groups <= 0) return 0;
  const int r = clamp_rank(p->spatial_rank, DASH_MAX_SPATIAL);
  return (double)p->batch * (double)p->out_channels * prod(p->out_size, r) *
         ((double)p->in_channels / (double)p->groups) * prod(p->kernel, r);
}

double work_qconv(void *const *args) {
  const auto *p = param_arg<dash_qconv_params_t>(args, 5);
  return p ? conv_macs(&p->conv) : 0;
}

double work_qgemm(void *const *args) {
  const auto *p = param_arg<dash_qgemm_params_t>(args, 5);
  if (!p) return 0;
  return (double)p->M * (double)p->N * (double)p->K;
}

double work_conv_transpose(void *const *args) {
  const auto *p = param_arg<dash_conv_params_t>(args, 4);
  if (!p || p->groups <= 0) return 0;
  const int r = clamp_rank(p->spatial_rank, DASH_MAX_SPATIAL);
  return (double)p->batch * (double)p->in_channels * prod(p->in_size, r) *
         ((double)p->out_channels / (double)p->groups) * prod(p->kernel, r);
}

double work_pool(void *const *args) {
  const auto *p = param_arg<dash_pool_params_t>(args, 2);
  if (!p) return 0;
  const int r = clamp_rank(p->spatial_rank, DASH_MAX_SPATIAL);
  return (double)p->channels * prod(p->out_size, r) * prod(p->kernel, r);
}

double work_binary(void *const *args) {
  const auto *p = param_arg<dash_binary_params_t>(args, 3);
  if (!p) return 0;
  return prod(p->out_shape, clamp_rank(p->rank, DASH_MAX_RANK));
}

double work_unary(void *const *args) {
  const auto *p = param_arg<dash_unary_params_t>(args, 2);
  return p ? (double)p->n : 0;
}

double work_softmax(void *const *args) {
  const auto *p = param_arg<dash_softmax_params_t>(args, 2);
  if (!p) return 0;
  return (double)p->outer * (double)p->axis * (double)p->inner;
}

// ---- synthetic calls ----

int clamp_level(int level) { return level < 0 ? 0 : (level > 4 ? 4 : level); }

std::vector<float> rand_floats(size_t n, std::mt19937_64 &rng, float lo = -1.f, float hi = 1.f) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto &x : v) x = d(rng);
  return v;
}

std::vector<short> rand_shorts(size_t n, std::mt19937_64 &rng, int lo, int hi) {
  std::uniform_int_distribution<int> d(lo, hi);
  std::vector<short> v(n);
  for (auto &x : v) x = (short)d(rng);
  return v;
}

// A case's storage: buffers plus the argument values the args vector points at. Allocated
// once (make_shared) and never moved, so pointers into it stay valid.
template <class S>
ApiCase finish(std::shared_ptr<S> s, std::vector<void *> args, double work) {
  ApiCase c;
  c.args = std::move(args);
  c.work = work;
  c.storage = std::move(s);
  return c;
}

// FFT (complex; T is dash_cmplx_flt_type or dash_cmplx_int_type)
template <class T>
struct FftCase {
  std::vector<T> in, out;
  T *pin = nullptr, *pout = nullptr;
  size_t n = 0;
  bool forward = true;
};

template <class T>
ApiCase make_fft(int level, std::mt19937_64 &rng) {
  static const size_t sizes[5] = {64, 256, 1024, 4096, 16384};
  auto s = std::make_shared<FftCase<T>>();
  s->n = sizes[clamp_level(level)];
  s->in.resize(s->n);
  s->out.resize(s->n);
  if constexpr (std::is_same<T, dash_cmplx_flt_type>::value) {
    auto v = rand_floats(2 * s->n, rng);
    for (size_t i = 0; i < s->n; ++i) s->in[i] = {v[2 * i], v[2 * i + 1]};
  } else {
    auto v = rand_shorts(2 * s->n, rng, -64, 64);  // small: the int FFT does not scale forward
    for (size_t i = 0; i < s->n; ++i) s->in[i] = {v[2 * i], v[2 * i + 1]};
  }
  s->pin = s->in.data();
  s->pout = s->out.data();
  double w = fft_work(s->n);
  return finish(s, {&s->pin, &s->pout, &s->n, &s->forward}, w);
}

template <class T>
struct GemmCase {
  std::vector<T> a, b, c;
  T *pa = nullptr, *pb = nullptr, *pc = nullptr;
  size_t rows = 0, cols_a = 0, cols_b = 0;
};

template <class T>
void fill_cmplx(std::vector<T> &v, size_t n, std::mt19937_64 &rng) {
  v.resize(n);
  if constexpr (std::is_same<T, dash_cmplx_flt_type>::value) {
    auto r = rand_floats(2 * n, rng);
    for (size_t i = 0; i < n; ++i) v[i] = {r[2 * i], r[2 * i + 1]};
  } else {
    auto r = rand_shorts(2 * n, rng, -16, 16);
    for (size_t i = 0; i < n; ++i) v[i] = {r[2 * i], r[2 * i + 1]};
  }
}

template <class T>
ApiCase make_gemm(int level, std::mt19937_64 &rng) {
  static const size_t sizes[5] = {16, 32, 64, 128, 256};
  const size_t n = sizes[clamp_level(level)];
  auto s = std::make_shared<GemmCase<T>>();
  s->rows = s->cols_a = s->cols_b = n;
  fill_cmplx(s->a, n * n, rng);
  fill_cmplx(s->b, n * n, rng);
  s->c.resize(n * n);
  s->pa = s->a.data();
  s->pb = s->b.data();
  s->pc = s->c.data();
  return finish(s, {&s->pa, &s->pb, &s->pc, &s->rows, &s->cols_a, &s->cols_b}, (double)n * n * n);
}

template <class T>
struct ZipCase {
  std::vector<T> a, b, out;
  T *pa = nullptr, *pb = nullptr, *pout = nullptr;
  size_t n = 0;
  zip_op_t op = ZIP_MULT;
};

template <class T>
ApiCase make_zip(int level, std::mt19937_64 &rng) {
  static const size_t sizes[5] = {1024, 8192, 65536, 262144, 1048576};
  auto s = std::make_shared<ZipCase<T>>();
  s->n = sizes[clamp_level(level)];
  fill_cmplx(s->a, s->n, rng);
  fill_cmplx(s->b, s->n, rng);
  s->out.resize(s->n);
  s->pa = s->a.data();
  s->pb = s->b.data();
  s->pout = s->out.data();
  return finish(s, {&s->pa, &s->pb, &s->pout, &s->n, &s->op}, (double)s->n);
}

struct Conv2dCase {
  std::vector<short> in, out;
  std::vector<float> mask;
  short *pin = nullptr, *pout = nullptr;
  float *pmask = nullptr;
  int height = 0, width = 0, mask_size = 0;
};

ApiCase make_conv2d(int level, std::mt19937_64 &rng) {
  static const int hw[5] = {16, 48, 128, 256, 512};
  static const int ms[5] = {3, 3, 5, 5, 7};
  const int l = clamp_level(level);
  auto s = std::make_shared<Conv2dCase>();
  s->height = s->width = hw[l];
  s->mask_size = ms[l];
  s->in = rand_shorts((size_t)hw[l] * hw[l], rng, -1000, 1000);
  s->out.resize((size_t)hw[l] * hw[l]);
  s->mask = rand_floats((size_t)ms[l] * ms[l], rng, -0.2f, 0.2f);
  s->pin = s->in.data();
  s->pout = s->out.data();
  s->pmask = s->mask.data();
  double w = (double)hw[l] * hw[l] * ms[l] * ms[l];
  return finish(s, {&s->pin, &s->height, &s->width, &s->pmask, &s->mask_size, &s->pout}, w);
}

struct Conv1dCase {
  std::vector<float> in, mask, out;
  float *pin = nullptr, *pmask = nullptr, *pout = nullptr;
  int size = 0, mask_size = 0;
};

ApiCase make_conv1d(int level, std::mt19937_64 &rng) {
  static const int sizes[5] = {256, 1024, 4096, 16384, 65536};
  static const int ms[5] = {16, 32, 64, 64, 128};
  const int l = clamp_level(level);
  auto s = std::make_shared<Conv1dCase>();
  s->size = sizes[l];
  s->mask_size = ms[l];
  s->in = rand_floats((size_t)s->size, rng);
  s->mask = rand_floats((size_t)s->mask_size, rng);
  s->out.assign((size_t)(s->size + s->mask_size - 1), 0.f);
  s->pin = s->in.data();
  s->pmask = s->mask.data();
  s->pout = s->out.data();
  return finish(s, {&s->pin, &s->size, &s->pmask, &s->mask_size, &s->pout}, (double)s->size * s->mask_size);
}

// ML APIs: four tensor pointers (or fewer) plus a parameter struct.
template <class P>
struct MlCase {
  std::vector<float> t0, t1, t2, t3;  // inputs, bias, output (meaning per API)
  const float *c0 = nullptr, *c1 = nullptr, *c2 = nullptr;
  float *o = nullptr;
  P prm{};
  const P *pp = nullptr;
};

ApiCase make_gemm_re(int level, std::mt19937_64 &rng) {
  static const int64_t sizes[5] = {16, 48, 128, 256, 512};
  const int64_t n = sizes[clamp_level(level)];
  auto s = std::make_shared<MlCase<dash_gemm_params_t>>();
  auto &p = s->prm;
  p.batch = 1;
  p.M = p.N = p.K = n;
  p.stride_a = n * n;
  p.stride_b = n * n;
  p.stride_c = n * n;
  p.alpha = 1.f;
  p.beta = 1.f;
  p.bias_kind = 2;
  p.act = {DASH_ACT_RELU, 0.f, 0.f};
  s->t0 = rand_floats((size_t)(n * n), rng);
  s->t1 = rand_floats((size_t)(n * n), rng);
  s->t2 = rand_floats((size_t)n, rng);
  s->t3.assign((size_t)(n * n), 0.f);
  s->c0 = s->t0.data();
  s->c1 = s->t1.data();
  s->c2 = s->t2.data();
  s->o = s->t3.data();
  s->pp = &s->prm;
  return finish(s, {&s->c0, &s->c1, &s->c2, &s->o, &s->pp}, (double)n * n * n);
}

void conv_geometry_2d(dash_conv_params_t &p, int64_t in_ch, int64_t out_ch, int64_t in_hw, int64_t out_hw,
                      int64_t k, int64_t stride, int64_t pad) {
  p.spatial_rank = 2;
  p.has_bias = 1;
  p.batch = 1;
  p.in_channels = in_ch;
  p.out_channels = out_ch;
  p.groups = 1;
  for (int d = 0; d < DASH_MAX_SPATIAL; ++d) {
    const bool used = d < 2;
    p.in_size[d] = used ? in_hw : 1;
    p.out_size[d] = used ? out_hw : 1;
    p.kernel[d] = used ? k : 1;
    p.stride[d] = used ? stride : 1;
    p.dilation[d] = 1;
    p.pad_begin[d] = used ? pad : 0;
  }
  p.act = {DASH_ACT_RELU, 0.f, 0.f};
}

ApiCase make_conv(int level, std::mt19937_64 &rng) {
  static const int64_t ch[5] = {8, 16, 32, 32, 64};
  static const int64_t hw[5] = {16, 28, 28, 56, 56};
  const int l = clamp_level(level);
  auto s = std::make_shared<MlCase<dash_conv_params_t>>();
  auto &p = s->prm;
  conv_geometry_2d(p, ch[l], ch[l], hw[l], hw[l], 3, 1, 1);
  s->t0 = rand_floats((size_t)(ch[l] * hw[l] * hw[l]), rng);
  s->t1 = rand_floats((size_t)(ch[l] * ch[l] * 9), rng, -0.2f, 0.2f);
  s->t2 = rand_floats((size_t)ch[l], rng);
  s->t3.assign((size_t)(ch[l] * hw[l] * hw[l]), 0.f);
  s->c0 = s->t0.data();
  s->c1 = s->t1.data();
  s->c2 = s->t2.data();
  s->o = s->t3.data();
  s->pp = &s->prm;
  double w = (double)ch[l] * hw[l] * hw[l] * ch[l] * 9;
  return finish(s, {&s->c0, &s->c1, &s->c2, &s->o, &s->pp}, w);
}

ApiCase make_conv_transpose(int level, std::mt19937_64 &rng) {
  static const int64_t ch[5] = {8, 16, 32, 32, 64};
  static const int64_t hw[5] = {8, 14, 14, 28, 28};
  const int l = clamp_level(level);
  auto s = std::make_shared<MlCase<dash_conv_params_t>>();
  auto &p = s->prm;
  // kernel 3, stride 2, pad 1, output padding 1: out = 2*in
  conv_geometry_2d(p, ch[l], ch[l], hw[l], 2 * hw[l], 3, 2, 1);
  const size_t out_n = (size_t)(ch[l] * 4 * hw[l] * hw[l]);
  s->t0 = rand_floats((size_t)(ch[l] * hw[l] * hw[l]), rng);
  s->t1 = rand_floats((size_t)(ch[l] * ch[l] * 9), rng, -0.2f, 0.2f);  // in_ch x out_ch x 3 x 3
  s->t2 = rand_floats((size_t)ch[l], rng);
  s->t3.assign(out_n, 0.f);
  s->c0 = s->t0.data();
  s->c1 = s->t1.data();
  s->c2 = s->t2.data();
  s->o = s->t3.data();
  s->pp = &s->prm;
  double w = (double)ch[l] * hw[l] * hw[l] * ch[l] * 9;
  return finish(s, {&s->c0, &s->c1, &s->c2, &s->o, &s->pp}, w);
}

ApiCase make_pool(int level, std::mt19937_64 &rng) {
  static const int64_t ch[5] = {8, 16, 32, 64, 64};
  static const int64_t hw[5] = {16, 32, 56, 56, 112};
  const int l = clamp_level(level);
  auto s = std::make_shared<MlCase<dash_pool_params_t>>();
  auto &p = s->prm;
  const int64_t out = (hw[l] + 2 - 3) / 2 + 1;  // 3x3, stride 2, pad 1 (floor mode)
  p.kind = DASH_POOL_MAX;
  p.spatial_rank = 2;
  p.count_include_pad = 0;
  p.p = 2;
  p.channels = ch[l];
  for (int d = 0; d < DASH_MAX_SPATIAL; ++d) {
    const bool used = d < 2;
    p.in_size[d] = used ? hw[l] : 1;
    p.out_size[d] = used ? out : 1;
    p.kernel[d] = used ? 3 : 1;
    p.stride[d] = used ? 2 : 1;
    p.dilation[d] = 1;
    p.pad_begin[d] = used ? 1 : 0;
    p.pad_end[d] = used ? 1 : 0;
  }
  s->t0 = rand_floats((size_t)(ch[l] * hw[l] * hw[l]), rng);
  s->t3.assign((size_t)(ch[l] * out * out), 0.f);
  s->c0 = s->t0.data();
  s->o = s->t3.data();
  s->pp = &s->prm;
  return finish(s, {&s->c0, &s->o, &s->pp}, (double)ch[l] * out * out * 9);
}

ApiCase make_binary(int level, std::mt19937_64 &rng) {
  static const int64_t ch[5] = {4, 8, 16, 64, 64};
  static const int64_t hw[5] = {16, 32, 64, 64, 128};
  const int l = clamp_level(level);
  auto s = std::make_shared<MlCase<dash_binary_params_t>>();
  auto &p = s->prm;
  const int64_t C = ch[l], H = hw[l], W = hw[l];
  p.op = DASH_BIN_ADD;
  p.rank = 3;
  p.out_shape[0] = C;
  p.out_shape[1] = H;
  p.out_shape[2] = W;
  p.a_stride[0] = H * W;  // a dense
  p.a_stride[1] = W;
  p.a_stride[2] = 1;
  p.b_stride[0] = 1;      // b: one value per channel, broadcast over H, W
  p.b_stride[1] = 0;
  p.b_stride[2] = 0;
  p.act = {DASH_ACT_NONE, 0.f, 0.f};
  s->t0 = rand_floats((size_t)(C * H * W), rng);
  s->t1 = rand_floats((size_t)C, rng);
  s->t3.assign((size_t)(C * H * W), 0.f);
  s->c0 = s->t0.data();
  s->c1 = s->t1.data();
  s->o = s->t3.data();
  s->pp = &s->prm;
  return finish(s, {&s->c0, &s->c1, &s->o, &s->pp}, (double)(C * H * W));
}

ApiCase make_unary(int level, std::mt19937_64 &rng) {
  static const int64_t sizes[5] = {1024, 8192, 65536, 262144, 1048576};
  auto s = std::make_shared<MlCase<dash_unary_params_t>>();
  s->prm.n = sizes[clamp_level(level)];
  s->prm.op = {DASH_ACT_SIGMOID, 0.f, 0.f};
  s->t0 = rand_floats((size_t)s->prm.n, rng, -4.f, 4.f);
  s->t3.assign((size_t)s->prm.n, 0.f);
  s->c0 = s->t0.data();
  s->o = s->t3.data();
  s->pp = &s->prm;
  return finish(s, {&s->c0, &s->o, &s->pp}, (double)s->prm.n);
}

ApiCase make_softmax(int level, std::mt19937_64 &rng) {
  static const int64_t outer[5] = {1, 8, 64, 256, 1024};
  static const int64_t axis[5] = {100, 256, 1000, 1000, 1000};
  const int l = clamp_level(level);
  auto s = std::make_shared<MlCase<dash_softmax_params_t>>();
  s->prm.outer = outer[l];
  s->prm.axis = axis[l];
  s->prm.inner = 1;
  s->prm.log = 0;
  const size_t n = (size_t)(outer[l] * axis[l]);
  s->t0 = rand_floats(n, rng, -5.f, 5.f);
  s->t3.assign(n, 0.f);
  s->c0 = s->t0.data();
  s->o = s->t3.data();
  s->pp = &s->prm;
  return finish(s, {&s->c0, &s->o, &s->pp}, (double)n);
}

// integer layers (T: int8_t or int16_t)
template <class T, class P>
struct QCase {
  std::vector<T> x, w, y;
  std::vector<int32_t> bias;
  std::vector<float> mult;
  const T *c0 = nullptr, *c1 = nullptr;
  const int32_t *c2 = nullptr;
  const float *c3 = nullptr;
  T *o = nullptr;
  P prm{};
  const P *pp = nullptr;
};

template <class T>
std::vector<T> rand_q(size_t n, std::mt19937_64 &rng) {
  const int hi = sizeof(T) == 1 ? 127 : 32767;
  std::uniform_int_distribution<int> d(-hi, hi);
  std::vector<T> v(n);
  for (auto &x : v) x = (T)d(rng);
  return v;
}

template <class T, class P>
void q_fill(QCase<T, P> &s, size_t nx, size_t nw, size_t ny, int64_t n_out, double k, std::mt19937_64 &rng) {
  const double range = sizeof(T) == 1 ? 127.0 : 32767.0;
  s.x = rand_q<T>(nx, rng);
  s.w = rand_q<T>(nw, rng);
  s.y.assign(ny, T(0));
  s.bias.assign((size_t)n_out, 0);
  for (int64_t i = 0; i < n_out; ++i) s.bias[(size_t)i] = (int32_t)((i * 7919) % 2001) - 1000;
  s.mult.assign((size_t)n_out, (float)(4.0 / (range * std::sqrt(k))));
  s.c0 = s.x.data();
  s.c1 = s.w.data();
  s.c2 = s.bias.data();
  s.c3 = s.mult.data();
  s.o = s.y.data();
  s.pp = &s.prm;
}

template <class T>
ApiCase make_qconv(int level, std::mt19937_64 &rng) {
  static const int64_t ch[5] = {8, 16, 32, 32, 64};
  static const int64_t hw[5] = {16, 28, 28, 56, 56};
  const int l = clamp_level(level);
  auto s = std::make_shared<QCase<T, dash_qconv_params_t>>();
  conv_geometry_2d(s->prm.conv, ch[l], ch[l], hw[l], hw[l], 3, 1, 1);
  s->prm.conv.act = {DASH_ACT_NONE, 0.f, 0.f};
  s->prm.in_zero = 3;
  s->prm.out_zero = -2;
  const size_t img = (size_t)(ch[l] * hw[l] * hw[l]);
  q_fill(*s, img, (size_t)(ch[l] * ch[l] * 9), img, ch[l], (double)(ch[l] * 9), rng);
  const double w = (double)ch[l] * hw[l] * hw[l] * ch[l] * 9;
  return finish(s, {&s->c0, &s->c1, &s->c2, &s->c3, &s->o, &s->pp}, w);
}

template <class T>
ApiCase make_qgemm(int level, std::mt19937_64 &rng) {
  static const int64_t sizes[5] = {16, 48, 128, 256, 512};
  const int64_t n = sizes[clamp_level(level)];
  auto s = std::make_shared<QCase<T, dash_qgemm_params_t>>();
  s->prm.M = s->prm.N = s->prm.K = n;
  s->prm.trans_b = 1;
  s->prm.in_zero = -1;
  q_fill(*s, (size_t)(n * n), (size_t)(n * n), (size_t)(n * n), n, (double)n, rng);
  return finish(s, {&s->c0, &s->c1, &s->c2, &s->c3, &s->o, &s->pp}, (double)(n * n * n));
}

std::vector<ApiInfo> build_table() {
  return {
      {"DASH_FFT", "flt", 4, "n*log2(n) butterflies (n*n if n is not a power of two)", work_fft,
       make_fft<dash_cmplx_flt_type>},
      {"DASH_FFT", "int", 4, "n*log2(n) butterflies (n*n if n is not a power of two)", work_fft,
       make_fft<dash_cmplx_int_type>},
      {"DASH_GEMM", "flt", 6, "rows_A*cols_A*cols_B complex MACs", work_gemm, make_gemm<dash_cmplx_flt_type>},
      {"DASH_GEMM", "int", 6, "rows_A*cols_A*cols_B complex MACs", work_gemm, make_gemm<dash_cmplx_int_type>},
      {"DASH_ZIP", "flt", 5, "n complex elements", work_zip, make_zip<dash_cmplx_flt_type>},
      {"DASH_ZIP", "int", 5, "n complex elements", work_zip, make_zip<dash_cmplx_int_type>},
      {"DASH_CONV_2D", "int", 6, "height*width*mask_size^2 MACs", work_conv2d, make_conv2d},
      {"DASH_CONV_1D", "flt", 5, "size*mask_size MACs", work_conv1d, make_conv1d},
      {"DASH_GEMM_RE", "flt", 5, "batch*M*N*K MACs", work_gemm_re, make_gemm_re},
      {"DASH_CONV", "flt", 5, "batch*out_ch*prod(out_size)*(in_ch/groups)*prod(kernel) MACs", work_conv, make_conv},
      {"DASH_CONV_TRANSPOSE", "flt", 5, "batch*in_ch*prod(in_size)*(out_ch/groups)*prod(kernel) MACs",
       work_conv_transpose, make_conv_transpose},
      {"DASH_POOL", "flt", 3, "channels*prod(out_size)*prod(kernel) taps", work_pool, make_pool},
      {"DASH_BINARY", "flt", 4, "prod(out_shape) elements", work_binary, make_binary},
      {"DASH_UNARY", "flt", 3, "n elements", work_unary, make_unary},
      {"DASH_SOFTMAX", "flt", 3, "outer*axis*inner elements", work_softmax, make_softmax},
      {"DASH_QCONV", "i8", 6, "batch*out_ch*prod(out_size)*(in_ch/groups)*prod(kernel) MACs", work_qconv,
       make_qconv<int8_t>},
      {"DASH_QCONV", "i16", 6, "batch*out_ch*prod(out_size)*(in_ch/groups)*prod(kernel) MACs", work_qconv,
       make_qconv<int16_t>},
      {"DASH_QGEMM", "i8", 6, "M*N*K MACs", work_qgemm, make_qgemm<int8_t>},
      {"DASH_QGEMM", "i16", 6, "M*N*K MACs", work_qgemm, make_qgemm<int16_t>},
  };
}

}  // namespace

const std::vector<ApiInfo> &known_apis() {
  static const std::vector<ApiInfo> table = build_table();
  return table;
}

const ApiInfo *find_api(const std::string &api, const std::string &prec) {
  for (const auto &a : known_apis())
    if (a.api == api && a.prec == prec) return &a;
  return nullptr;
}

}  // namespace cedr
