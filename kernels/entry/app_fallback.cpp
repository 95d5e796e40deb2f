// An extended app's fallback for one ML API form (dash_ml.h), compiled once per symbol with
// -DO2C_ML_FALLBACK_<symbol> into libdash_fallback.a, so an app links only the forms it calls.
//
// The definition is exported (default visibility, and the archive is left out of the app's
// --exclude-libs) and therefore interposable: the app's call goes through its PLT, and the
// dynamic linker binds it to the first definition in the global scope. Under our runtime that is
// the executable's (cedr-run exports every API with -rdynamic), so the call becomes a scheduled
// task as before; under the public CEDR daemon, which exports only the public APIs (from its
// RTLD_GLOBAL libdash-rt.so), nothing else defines it, the app's own definition binds, and the
// layer runs inline on the app thread with the kernel library linked into the app.
#define O2C_ML_INLINE_API __attribute__((visibility("default")))
#include "o2c_ml_inline.h"
