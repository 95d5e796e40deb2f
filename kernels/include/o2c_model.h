/*
 * o2c_model.h - what a generated model exposes to the generic entry points (standalone
 * executable, CEDR app main) and the support functions generated code relies on.
 */
#ifndef ONNX2CEDR_O2C_MODEL_H
#define ONNX2CEDR_O2C_MODEL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* O2C_ERR_BOUND: an output's run-time dimension came out over its bound (see run_shaped); the
 * model's last_error() says which, in one line */
enum { O2C_OK = 0, O2C_ERR_WEIGHTS = 1, O2C_ERR_MEMORY = 2, O2C_ERR_BOUND = 3 };

typedef struct o2c_tensor_info {
  const char *name;   /* the ONNX name */
  const char *descr;  /* numpy dtype descriptor, e.g. "<f4" */
  int32_t rank;
  int64_t shape[8];
  int64_t nbytes;
} o2c_tensor_info_t;

typedef struct o2c_model_info {
  const char *name;
  int32_t n_inputs, n_outputs, n_traced;
  const o2c_tensor_info_t *inputs, *outputs, *traced;
  int (*run)(const void *const *inputs, void *const *outputs);
  int (*run_traced)(const void *const *inputs, void *const *outputs, void *const *traced);
  const uint8_t *(*weights)(void);
  const char *weights_error;
  /* like run, and writes every output's actual shape into shapes[8 * k ...] (outputs with a dimension
   * known only at run time hold their data dense in that shape; the others get their static shape) */
  int (*run_shaped)(const void *const *inputs, void *const *outputs, int64_t *shapes);
  /* the calling thread's last run's error (bound exceeded), else the weights error; one line */
  const char *(*last_error)(void);
} o2c_model_info_t;

/* Defined by the generated model (hidden in shared objects: one model per artifact). */
const o2c_model_info_t *o2c_model_info(void);

/* Maps the weights file read-only. Looks for $O2C_WEIGHTS, then file_name in the folder of the
 * binary containing self_addr (found with dladdr; /proc/self/exe for executables). Checks the
 * file's size, its CRC-32 against crc32 (the value convert computed; skipped when
 * $O2C_WEIGHTS_CHECK is 0), the header's copy of it, magic and model id. Returns the payload, or
 * NULL with a one-line reason.
 * File layout: 64-byte header (magic "O2CWGT02", model id u64, payload bytes u64, CRC-32 u32, zeros),
 * then the payload. The CRC covers the payload, then header bytes [0, 24) and [28, 64). */
const void *o2c_weights_map(const char *file_name, uint64_t model_id, size_t payload_bytes, uint32_t crc32,
                            void *self_addr, char *err, size_t err_len);

/* CRC-32 (IEEE, zlib's crc32: reflected polynomial 0xEDB88320) of n bytes, continuing from crc
 * (0 to start): o2c_crc32(o2c_crc32(0, a, n), b, m) is the CRC of a followed by b. */
uint32_t o2c_crc32(uint32_t crc, const void *data, size_t n);

/* The folder (with a trailing '/') of the binary containing addr; "" when unknown. */
void o2c_self_dir(void *addr, char *out, size_t out_len);

/* 64-byte aligned scratch for one model run (each run owns its arena). */
void *o2c_arena_alloc(size_t bytes);
void o2c_arena_free(void *p);

#ifdef __cplusplus
}
#endif

#endif /* ONNX2CEDR_O2C_MODEL_H */
