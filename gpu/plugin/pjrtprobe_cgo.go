package plugin

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

// gonbgpu_probe_pjrt loads a plugin and reads its PJRT_Api head. It returns NULL on success, or a message.
static const char* gonbgpu_probe_pjrt(const char* path, size_t* size, int* major, int* minor) {
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
	return NULL;
}
*/
import "C"

import (
	"errors"
	"unsafe"
)

// readPJRTAPI loads the plugin at path into this process and reads its PJRT C API version and the size of
// its function table. Only the child process of [probePJRTPlugin] calls it: a plugin that crashes while
// loading then takes down only that child.
func readPJRTAPI(path string) (API, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var size C.size_t
	var major, minor C.int
	if msg := C.gonbgpu_probe_pjrt(cpath, &size, &major, &minor); msg != nil {
		return API{}, errors.New(C.GoString(msg))
	}
	return API{Major: int(major), Minor: int(minor), StructSize: int(size)}, nil
}
