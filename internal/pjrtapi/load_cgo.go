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
*/
import "C"

import (
	"errors"
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
