/*
 * cublas_lazy.cu — loads cuBLAS on first use (cublas_lazy.h).
 */
#include <dlfcn.h>
#include <pthread.h>

#include <type_traits>

#include "cublas_lazy.h"

#define SAME_TYPE(slot, fn)                                                              \
  static_assert(std::is_same<decltype(r50_cublas_api::slot), decltype(&fn)>::value,      \
                "r50_cublas_api::" #slot " is not " #fn "'s type")
SAME_TYPE(create, cublasCreate_v2);
SAME_TYPE(destroy, cublasDestroy_v2);
SAME_TYPE(set_stream, cublasSetStream_v2);
SAME_TYPE(set_math_mode, cublasSetMathMode);
SAME_TYPE(sgemm, cublasSgemm_v2);
SAME_TYPE(status_string, cublasGetStatusString);

#ifndef R50_CUBLAS_SONAME
#error                                                                                   \
    "R50_CUBLAS_SONAME (the toolkit's libcublas.so.MAJOR) is set by src/cuda/CMakeLists.txt"
#endif

namespace {

pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
r50_cublas_api api;
bool loaded;

template <typename F> bool bind(void *lib, const char *name, F *slot, r50_error *err) {
  *slot = reinterpret_cast<F>(dlsym(lib, name));
  if (!*slot)
    r50_fail(err, R50_ERR_DEVICE, "%s has no %s: is it the cuBLAS of CUDA %s?",
             R50_CUBLAS_SONAME, name, R50_CUBLAS_SONAME + sizeof "libcublas.so." - 1);
  return *slot != nullptr;
}

} // namespace

extern "C" const r50_cublas_api *r50_cublas_load(r50_error *err) {
  pthread_mutex_lock(&lock);
  if (!loaded) {
    void *lib = dlopen(R50_CUBLAS_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      const char *why = dlerror();
      r50_fail(err, R50_ERR_DEVICE, "cannot load cuBLAS (%s): %s", R50_CUBLAS_SONAME,
               why ? why : "not found");
    } else if (bind(lib, "cublasCreate_v2", &api.create, err) &&
               bind(lib, "cublasDestroy_v2", &api.destroy, err) &&
               bind(lib, "cublasSetStream_v2", &api.set_stream, err) &&
               bind(lib, "cublasSetMathMode", &api.set_math_mode, err) &&
               bind(lib, "cublasSgemm_v2", &api.sgemm, err) &&
               bind(lib, "cublasGetStatusString", &api.status_string, err)) {
      loaded = true; /* kept loaded: engines come and go */
    } else {
      dlclose(lib);
    }
  }
  const r50_cublas_api *out = loaded ? &api : nullptr;
  pthread_mutex_unlock(&lock);
  return out;
}

extern "C" const r50_cublas_api *r50_cublas(void) {
  return &api;
}
