// Buffers and .npy I/O shared by the entry points (standalone executable, CEDR app main).
#ifndef ONNX2CEDR_ENTRY_IO_H
#define ONNX2CEDR_ENTRY_IO_H

#include <sys/stat.h>

#include <string>
#include <vector>

#include "o2c_kernels.h"
#include "o2c_model.h"

namespace o2c_entry {

// Element size of a numpy descriptor such as "<f4" or "|b1".
inline int64_t elem_size(const o2c_tensor_info_t &t) { return t.descr[2] - '0'; }

// One run's input and output buffers, sized from the model's tensor infos.
struct RunBuffers {
  std::vector<std::vector<unsigned char>> in, out;
  std::vector<const void *> in_ptr;
  std::vector<void *> out_ptr;
  std::vector<int64_t> shapes;  // 8 per output: each output's actual shape, as the run reported it

  explicit RunBuffers(const o2c_model_info_t *m)
      : in(m->n_inputs), out(m->n_outputs), in_ptr(m->n_inputs), out_ptr(m->n_outputs),
        shapes(8 * static_cast<size_t>(m->n_outputs) + 1) {
    for (int i = 0; i < m->n_inputs; ++i) {
      in[i].resize(static_cast<size_t>(m->inputs[i].nbytes) + 1);
      in_ptr[i] = in[i].data();
    }
    for (int i = 0; i < m->n_outputs; ++i) {
      out[i].resize(static_cast<size_t>(m->outputs[i].nbytes) + 1);
      out_ptr[i] = out[i].data();
      for (int d = 0; d < m->outputs[i].rank; ++d) shapes[8 * i + d] = m->outputs[i].shape[d];
    }
  }

  // One run; the outputs' actual shapes land in `shapes` (outputs with a dimension known only at run
  // time hold their data dense in it). O2C_ERR_BOUND: over a bound, m->last_error() says which.
  int run(const o2c_model_info_t *m) { return m->run_shaped(in_ptr.data(), out_ptr.data(), shapes.data()); }

  // Reads input i from path; on failure returns false with a one-line reason in err.
  bool read_input(const o2c_model_info_t *m, int i, const std::string &path, char *err, size_t err_len) {
    const o2c_tensor_info_t &t = m->inputs[i];
    return o2c_npy_read(path.c_str(), t.descr, t.shape, t.rank, in[i].data(), elem_size(t), err, err_len) == 0;
  }

  // Writes every output to dir/output_<k>.npy (dir is created); returns the failing path or "".
  std::string write_outputs(const o2c_model_info_t *m, const std::string &dir) const {
    mkdir(dir.c_str(), 0755);
    for (int i = 0; i < m->n_outputs; ++i) {
      const o2c_tensor_info_t &t = m->outputs[i];
      std::string p = dir + "/output_" + std::to_string(i) + ".npy";
      if (o2c_npy_write(p.c_str(), t.descr, &shapes[8 * i], t.rank, out[i].data(), elem_size(t)) != 0) return p;
    }
    return std::string();
  }
};

}  // namespace o2c_entry

#endif  // ONNX2CEDR_ENTRY_IO_H
