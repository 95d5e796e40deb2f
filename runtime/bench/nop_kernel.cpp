// nop_kernel.cpp - the empty API DASH_NOP_flt for runtime/bench/dispatch.py: its CPU
// implementation only counts the call in the int its argument points to, so the benchmark app
// can check that every task ran exactly once.
//   g++ -std=c++17 -O2 -shared -fPIC nop_kernel.cpp -o libo2c_nop.so
extern "C" __attribute__((visibility("default"))) void DASH_NOP_flt_cpu(int **counter) { **counter += 1; }
