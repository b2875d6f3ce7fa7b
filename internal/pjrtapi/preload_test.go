package pjrtapi

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestPreloadCUDAMakesSymbolsGlobal: a library that uses another's symbol without naming it (as cuDNN's
// and XLA's libraries find NVIDIA's through an RPATH that a relinked or linked-to plugin no longer
// matches) loads only once the other was preloaded; a missing driver is one sentence naming it, and a
// library that cannot load is named.
func TestPreloadCUDAMakesSymbolsGlobal(t *testing.T) {
	provider := buildLib(t, "int gonbgpu_nv_answer(void) { return 42; }\n")
	userCode := "extern int gonbgpu_nv_answer(void);\nint gonbgpu_ask(void) { return gonbgpu_nv_answer(); }\n"
	user := buildLib(t, userCode)
	lonely := buildLib(t, userCode) // another copy: the first may be loaded by the time it is tried
	err := PreloadCUDA("libm.so.6", []string{lonely})
	if err == nil || !strings.Contains(err.Error(), lonely) || !strings.Contains(err.Error(), "undefined symbol") {
		t.Fatalf("a library whose symbol provider is not loaded: %v", err)
	}
	if err := PreloadCUDA("libm.so.6", []string{provider, user}); err != nil {
		t.Fatalf("with its provider preloaded first: %v", err)
	}
	missing := filepath.Base(t.TempDir()) + "-libcuda.so.1"
	err = PreloadCUDA(missing, []string{provider})
	if err == nil || !strings.HasPrefix(err.Error(), "the NVIDIA driver library "+missing+" cannot be loaded") ||
		!strings.Contains(err.Error(), "no NVIDIA driver") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("a missing driver: %v", err)
	}
}
