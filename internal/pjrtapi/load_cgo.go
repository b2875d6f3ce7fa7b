package pjrtapi

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

// The head of PJRT_Api (xla/pjrt/c/pjrt_c_api.h), which has kept this layout since PJRT C API 0.1:
// struct_size, extension_start, then PJRT_Api_Version {struct_size, extension_start, major, minor}.
typedef struct {
	size_t struct_size;
	void* extension_start;
	size_t version_struct_size;
	void* version_extension_start;
	int major_version;
	int minor_version;
} gonbgpu_pjrt_api_head;

typedef const gonbgpu_pjrt_api_head* (*gonbgpu_get_pjrt_api)(void);

// gonbgpu_load_pjrt loads a plugin, keeps it loaded, and reads its PJRT_Api head and address. It returns
// NULL on success, or a message.
static const char* gonbgpu_load_pjrt(const char* path, size_t* size, int* major, int* minor, const void** table) {
	void* h = dlopen(path, RTLD_LAZY | RTLD_LOCAL);
	if (h == NULL) {
		const char* e = dlerror();
		return e ? e : "dlopen failed";
	}
	gonbgpu_get_pjrt_api get = (gonbgpu_get_pjrt_api)dlsym(h, "GetPjrtApi");
	if (get == NULL) {
		return "the library has no GetPjrtApi symbol: not a PJRT plugin";
	}
	const gonbgpu_pjrt_api_head* api = get();
	if (api == NULL) {
		return "GetPjrtApi returned NULL";
	}
	*size = api->struct_size;
	*major = api->major_version;
	*minor = api->minor_version;
	*table = (const void*)api;
	return NULL;
}

// gonbgpu_preload loads a library for good with its symbols global, as Python's JAX loads NVIDIA's. It
// returns NULL on success, or dlerror's message.
static const char* gonbgpu_preload(const char* path) {
	if (dlopen(path, RTLD_NOW | RTLD_GLOBAL) == NULL) {
		const char* e = dlerror();
		return e ? e : "dlopen failed";
	}
	return NULL;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"
)

// Load loads the plugin at path into this process, after [Inspect] found nothing wrong with its file, for good (a PJRT plugin is never unloaded), and
// returns its API head and the address of its PJRT_Api table, for go-xla's pjrt.RegisterPreloadedPlugin.
//
// Loading runs the library's initialisers: a plugin that crashes there takes the process with it. So a
// plugin is first checked in a child process (package gpu/plugin's probes, which call Load there) before
// a long-lived process loads it.
func Load(path string) (API, uintptr, error) {
	if err := Inspect(path); err != nil {
		return API{}, 0, err
	}
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var size C.size_t
	var major, minor C.int
	var table unsafe.Pointer
	if msg := C.gonbgpu_load_pjrt(cpath, &size, &major, &minor, (*unsafe.Pointer)(unsafe.Pointer(&table))); msg != nil {
		return API{}, 0, errors.New(C.GoString(msg))
	}
	return API{Major: int(major), Minor: int(minor), StructSize: int(size)}, uintptr(table), nil
}

// DriverLibrary is the NVIDIA driver's CUDA library. Every CUDA plugin needs it, and no wheel carries it:
// it comes with the driver, so a machine without one lacks it.
const DriverLibrary = "libcuda.so.1"

// PreloadCUDA readies this process for a CUDA plugin as JAX's plugin initialisation does: it loads the
// driver library (by name, from the system's library path: [DriverLibrary]), then each of libs in order
// (NVIDIA's libraries from pip's nvidia/* wheels or a conda environment), for good and with RTLD_GLOBAL,
// so that the plugin and the libraries it opens later find them whatever their RPATHs say. Without the
// driver it returns one sentence naming it, rather than the plugin's failure somewhere inside XLA; a
// library that does not load is named with dlerror's reason.
func PreloadCUDA(driver string, libs []string) error {
	if err := dlopenGlobal(driver); err != nil {
		return fmt.Errorf("the NVIDIA driver library %s cannot be loaded (%v): this machine has no NVIDIA driver, "+
			"or it is not on the library path, and every CUDA plugin needs it (run on a GPU node)", driver, err)
	}
	for _, l := range libs {
		if err := dlopenGlobal(l); err != nil {
			return fmt.Errorf("NVIDIA library %s cannot be loaded: %v", l, err)
		}
	}
	return nil
}

func dlopenGlobal(lib string) error {
	c := C.CString(lib)
	defer C.free(unsafe.Pointer(c))
	if msg := C.gonbgpu_preload(c); msg != nil {
		return errors.New(C.GoString(msg))
	}
	return nil
}
