// Package nvml reads what gonbgpu shows about NVIDIA GPUs (name, UUID, memory, driver and CUDA
// versions) from NVIDIA's management library, libnvidia-ml.so.1, loaded at run time with dlopen.
//
// It replaces github.com/NVIDIA/go-nvml for these few calls. go-nvml's cgo code calls every NVML
// function, deprecated ones included, so compiling it prints a screen of -Wdeprecated-declarations
// warnings to anyone who builds gonbgpu without the Makefile's CGO_CFLAGS (`go run ./cmd/gonbgpu`,
// `go test`). Here the C side declares only the functions used, with the signatures NVML documents
// (https://docs.nvidia.com/deploy/nvml-api/), and nothing is deprecated: the build is silent. Loading
// with dlopen keeps binaries working on machines without the library (login nodes, laptops): [Init]
// then returns an error.
package nvml

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>

typedef int nvmlReturn_t;           // NVML_SUCCESS is 0
typedef struct nvmlDevice_st* nvmlDevice_t;
typedef struct { unsigned long long total, free, used; } nvmlMemory_t;
typedef struct {
	char busIdLegacy[16];
	unsigned int domain, bus, device, pciDeviceId, pciSubSystemId;
	char busId[32];
} nvmlPciInfo_t;
typedef struct {
	unsigned int multiprocessorCount, sharedCopyEngineCount, sharedDecoderCount, sharedEncoderCount,
		sharedJpegCount, sharedOfaCount, gpuInstanceSliceCount, computeInstanceSliceCount;
	unsigned long long memorySizeMB;
} nvmlDeviceAttributes_t;

static void* lib;
static nvmlReturn_t (*pInit)(void);
static nvmlReturn_t (*pShutdown)(void);
static const char* (*pErrorString)(nvmlReturn_t);
static nvmlReturn_t (*pDeviceGetCount)(unsigned int*);
static nvmlReturn_t (*pDeviceGetHandleByIndex)(unsigned int, nvmlDevice_t*);
static nvmlReturn_t (*pDeviceGetName)(nvmlDevice_t, char*, unsigned int);
static nvmlReturn_t (*pDeviceGetUUID)(nvmlDevice_t, char*, unsigned int);
static nvmlReturn_t (*pDeviceGetMemoryInfo)(nvmlDevice_t, nvmlMemory_t*);
static nvmlReturn_t (*pSystemGetDriverVersion)(char*, unsigned int);
static nvmlReturn_t (*pSystemGetCudaDriverVersion)(int*);
static nvmlReturn_t (*pDeviceGetMinorNumber)(nvmlDevice_t, unsigned int*);
static nvmlReturn_t (*pDeviceGetPciInfo)(nvmlDevice_t, nvmlPciInfo_t*);
static nvmlReturn_t (*pDeviceGetCudaComputeCapability)(nvmlDevice_t, int*, int*);
static nvmlReturn_t (*pDeviceGetAttributes)(nvmlDevice_t, nvmlDeviceAttributes_t*);
// MIG calls: only on drivers that know MIG (optional symbols, NULL elsewhere).
static nvmlReturn_t (*pDeviceGetMigMode)(nvmlDevice_t, unsigned int*, unsigned int*);
static nvmlReturn_t (*pDeviceGetMaxMigDeviceCount)(nvmlDevice_t, unsigned int*);
static nvmlReturn_t (*pDeviceGetMigDeviceHandleByIndex)(nvmlDevice_t, unsigned int, nvmlDevice_t*);

// gonbgpu_nvml_load opens the library and resolves every symbol; it returns NULL or the dlerror text.
static const char* gonbgpu_nvml_load(const char* name) {
	if (lib) return NULL;
	void* h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
	if (!h) return dlerror();
	#define SYM(p, s) if (!(*(void**)(&p) = dlsym(h, s))) { const char* e = dlerror(); dlclose(h); return e ? e : s; }
	SYM(pInit, "nvmlInit_v2")
	SYM(pShutdown, "nvmlShutdown")
	SYM(pErrorString, "nvmlErrorString")
	SYM(pDeviceGetCount, "nvmlDeviceGetCount_v2")
	SYM(pDeviceGetHandleByIndex, "nvmlDeviceGetHandleByIndex_v2")
	SYM(pDeviceGetName, "nvmlDeviceGetName")
	SYM(pDeviceGetUUID, "nvmlDeviceGetUUID")
	SYM(pDeviceGetMemoryInfo, "nvmlDeviceGetMemoryInfo")
	SYM(pSystemGetDriverVersion, "nvmlSystemGetDriverVersion")
	SYM(pSystemGetCudaDriverVersion, "nvmlSystemGetCudaDriverVersion")
	SYM(pDeviceGetMinorNumber, "nvmlDeviceGetMinorNumber")
	SYM(pDeviceGetPciInfo, "nvmlDeviceGetPciInfo_v3")
	SYM(pDeviceGetCudaComputeCapability, "nvmlDeviceGetCudaComputeCapability")
	SYM(pDeviceGetAttributes, "nvmlDeviceGetAttributes_v2")
	#undef SYM
	*(void**)(&pDeviceGetMigMode) = dlsym(h, "nvmlDeviceGetMigMode");
	*(void**)(&pDeviceGetMaxMigDeviceCount) = dlsym(h, "nvmlDeviceGetMaxMigDeviceCount");
	*(void**)(&pDeviceGetMigDeviceHandleByIndex) = dlsym(h, "nvmlDeviceGetMigDeviceHandleByIndex");
	lib = h;
	return NULL;
}

static nvmlReturn_t gonbgpu_nvml_init(void) { return pInit(); }
static nvmlReturn_t gonbgpu_nvml_shutdown(void) { return pShutdown(); }
static const char* gonbgpu_nvml_error(nvmlReturn_t r) { return pErrorString(r); }
static nvmlReturn_t gonbgpu_nvml_count(unsigned int* n) { return pDeviceGetCount(n); }
static nvmlReturn_t gonbgpu_nvml_handle(unsigned int i, nvmlDevice_t* d) { return pDeviceGetHandleByIndex(i, d); }
static nvmlReturn_t gonbgpu_nvml_name(nvmlDevice_t d, char* s, unsigned int n) { return pDeviceGetName(d, s, n); }
static nvmlReturn_t gonbgpu_nvml_uuid(nvmlDevice_t d, char* s, unsigned int n) { return pDeviceGetUUID(d, s, n); }
static nvmlReturn_t gonbgpu_nvml_memory(nvmlDevice_t d, nvmlMemory_t* m) { return pDeviceGetMemoryInfo(d, m); }
static nvmlReturn_t gonbgpu_nvml_driver(char* s, unsigned int n) { return pSystemGetDriverVersion(s, n); }
static nvmlReturn_t gonbgpu_nvml_cuda(int* v) { return pSystemGetCudaDriverVersion(v); }
static nvmlReturn_t gonbgpu_nvml_minor(nvmlDevice_t d, unsigned int* m) { return pDeviceGetMinorNumber(d, m); }
static nvmlReturn_t gonbgpu_nvml_pci(nvmlDevice_t d, nvmlPciInfo_t* p) { return pDeviceGetPciInfo(d, p); }
static nvmlReturn_t gonbgpu_nvml_cc(nvmlDevice_t d, int* major, int* minor) { return pDeviceGetCudaComputeCapability(d, major, minor); }
static nvmlReturn_t gonbgpu_nvml_attributes(nvmlDevice_t d, nvmlDeviceAttributes_t* a) { return pDeviceGetAttributes(d, a); }
#define GONBGPU_NVML_NOT_SUPPORTED 3
static nvmlReturn_t gonbgpu_nvml_mig_mode(nvmlDevice_t d, unsigned int* cur, unsigned int* pending) {
	return pDeviceGetMigMode ? pDeviceGetMigMode(d, cur, pending) : GONBGPU_NVML_NOT_SUPPORTED;
}
static nvmlReturn_t gonbgpu_nvml_max_mig(nvmlDevice_t d, unsigned int* n) {
	return pDeviceGetMaxMigDeviceCount ? pDeviceGetMaxMigDeviceCount(d, n) : GONBGPU_NVML_NOT_SUPPORTED;
}
static nvmlReturn_t gonbgpu_nvml_mig_handle(nvmlDevice_t d, unsigned int i, nvmlDevice_t* m) {
	return pDeviceGetMigDeviceHandleByIndex ? pDeviceGetMigDeviceHandleByIndex(d, i, m) : GONBGPU_NVML_NOT_SUPPORTED;
}
*/
import "C"

import (
	"fmt"
	"sync"
	"unsafe"
)

// Library is the file dlopen looks for (through the usual library search path).
const Library = "libnvidia-ml.so.1"

// Buffer sizes NVML documents: NVML_DEVICE_NAME_V2_BUFFER_SIZE, NVML_DEVICE_UUID_V2_BUFFER_SIZE and
// NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE.
const (
	nameBuffer   = 96
	uuidBuffer   = 96
	driverBuffer = 80
)

var loadMu sync.Mutex

// ErrNoPermission is NVML_ERROR_NO_PERMISSION's code: what NVML answers for a GPU a cgroup hides.
const ErrNoPermission = 4

// IsNoPermission reports whether err is NVML's "no permission" answer.
func IsNoPermission(err error) bool {
	e, ok := err.(*Error)
	return ok && e.Code == ErrNoPermission
}

// Error is a failed NVML call: the function and NVML's own message.
type Error struct {
	Call string
	Code int
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("NVML %s: %s", e.Call, e.Msg) }

func check(call string, r C.nvmlReturn_t) error {
	if r == 0 {
		return nil
	}
	return &Error{Call: call, Code: int(r), Msg: C.GoString(C.gonbgpu_nvml_error(r))}
}

// Init loads the library (once) and initialises NVML; each successful Init needs a [Shutdown].
func Init() error {
	loadMu.Lock()
	name := C.CString(Library)
	msg := C.gonbgpu_nvml_load(name)
	C.free(unsafe.Pointer(name))
	loadMu.Unlock()
	if msg != nil {
		return fmt.Errorf("NVML: cannot load %s: %s", Library, C.GoString(msg))
	}
	return check("init", C.gonbgpu_nvml_init())
}

// Shutdown releases what Init took.
func Shutdown() error { return check("shutdown", C.gonbgpu_nvml_shutdown()) }

// DeviceCount returns the number of GPUs NVML sees (all of the machine's, whatever CUDA_VISIBLE_DEVICES
// says).
func DeviceCount() (int, error) {
	var n C.uint
	if err := check("device count", C.gonbgpu_nvml_count(&n)); err != nil {
		return 0, err
	}
	return int(n), nil
}

// DriverVersion returns the NVIDIA driver's version, e.g. "580.95.05".
func DriverVersion() (string, error) {
	var buf [driverBuffer]C.char
	if err := check("driver version", C.gonbgpu_nvml_driver(&buf[0], driverBuffer)); err != nil {
		return "", err
	}
	return C.GoString(&buf[0]), nil
}

// CUDADriverVersion returns the CUDA version the driver supports, as 1000×major + 10×minor.
func CUDADriverVersion() (int, error) {
	var v C.int
	if err := check("CUDA driver version", C.gonbgpu_nvml_cuda(&v)); err != nil {
		return 0, err
	}
	return int(v), nil
}

// Device is a GPU's NVML handle.
type Device struct{ h C.nvmlDevice_t }

// DeviceByIndex returns the handle of GPU i (NVML's numbering: physical, PCI order).
func DeviceByIndex(i int) (Device, error) {
	var d Device
	err := check(fmt.Sprintf("device %d", i), C.gonbgpu_nvml_handle(C.uint(i), &d.h))
	return d, err
}

// Name returns the GPU's product name.
func (d Device) Name() (string, error) {
	var buf [nameBuffer]C.char
	if err := check("device name", C.gonbgpu_nvml_name(d.h, &buf[0], nameBuffer)); err != nil {
		return "", err
	}
	return C.GoString(&buf[0]), nil
}

// UUID returns the GPU's UUID ("GPU-…"), as CUDA_VISIBLE_DEVICES may name it.
func (d Device) UUID() (string, error) {
	var buf [uuidBuffer]C.char
	if err := check("device UUID", C.gonbgpu_nvml_uuid(d.h, &buf[0], uuidBuffer)); err != nil {
		return "", err
	}
	return C.GoString(&buf[0]), nil
}

// Memory returns the GPU's total and free memory in bytes.
func (d Device) Memory() (total, free uint64, err error) {
	var m C.nvmlMemory_t
	if err := check("device memory", C.gonbgpu_nvml_memory(d.h, &m)); err != nil {
		return 0, 0, err
	}
	return uint64(m.total), uint64(m.free), nil
}

// MinorNumber returns the GPU's device-file number: /dev/nvidia<minor>.
func (d Device) MinorNumber() (int, error) {
	var m C.uint
	if err := check("device minor number", C.gonbgpu_nvml_minor(d.h, &m)); err != nil {
		return 0, err
	}
	return int(m), nil
}

// BusID returns the GPU's PCI bus id, e.g. "00000000:3B:00.0".
func (d Device) BusID() (string, error) {
	var p C.nvmlPciInfo_t
	if err := check("device PCI info", C.gonbgpu_nvml_pci(d.h, &p)); err != nil {
		return "", err
	}
	return C.GoString(&p.busId[0]), nil
}

// ComputeCapability returns the GPU's CUDA compute capability, e.g. 9, 0 for a Hopper GPU.
func (d Device) ComputeCapability() (major, minor int, err error) {
	var ma, mi C.int
	if err := check("device compute capability", C.gonbgpu_nvml_cc(d.h, &ma, &mi)); err != nil {
		return 0, 0, err
	}
	return int(ma), int(mi), nil
}

// Multiprocessors returns the GPU's (or MIG device's) number of streaming multiprocessors.
func (d Device) Multiprocessors() (int, error) {
	var a C.nvmlDeviceAttributes_t
	if err := check("device attributes", C.gonbgpu_nvml_attributes(d.h, &a)); err != nil {
		return 0, err
	}
	return int(a.multiprocessorCount), nil
}

// MIGEnabled reports whether the GPU runs in MIG mode now.
func (d Device) MIGEnabled() (bool, error) {
	var cur, pending C.uint
	if err := check("device MIG mode", C.gonbgpu_nvml_mig_mode(d.h, &cur, &pending)); err != nil {
		return false, err
	}
	return cur == 1, nil // NVML_DEVICE_MIG_ENABLE
}

// MaxMIGDevices returns how many MIG device slots the GPU has.
func (d Device) MaxMIGDevices() (int, error) {
	var n C.uint
	if err := check("device MIG count", C.gonbgpu_nvml_max_mig(d.h, &n)); err != nil {
		return 0, err
	}
	return int(n), nil
}

// MIGDevice returns the MIG device in slot i (an error for an empty slot).
func (d Device) MIGDevice(i int) (Device, error) {
	var m Device
	err := check(fmt.Sprintf("MIG device %d", i), C.gonbgpu_nvml_mig_handle(d.h, C.uint(i), &m.h))
	return m, err
}
