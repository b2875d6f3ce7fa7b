package pjrtapi

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"runtime"
)

// machines maps GOARCH to the ELF machine a plugin must be built for to load in this process.
var machines = map[string]elf.Machine{
	"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64, "ppc64le": elf.EM_PPC64, "riscv64": elf.EM_RISCV, "s390x": elf.EM_S390,
}

// Inspect reads a plugin file without loading it and says, in one sentence, why it cannot be a PJRT
// plugin for this process, or returns nil: not a regular file, not an ELF shared library, built for
// another architecture, cut short (its segments reach past the end of the file: an interrupted download
// or copy), or without the GetPjrtApi function every PJRT plugin exports.
//
// dlopen on such files fails with a terse message at best and crashes at worst (a truncated library is
// mapped, then read past its end): Inspect turns each into one error that names the file.
func Inspect(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", path)
	}
	f, err := elf.Open(path)
	if err != nil {
		if isELF(path) {
			return fmt.Errorf("%s is a damaged or cut-short shared library (%v; an interrupted download or copy?): reinstall it", path, err)
		}
		return fmt.Errorf("%s is not a shared library (ELF): %v", path, err)
	}
	defer f.Close()
	if want, ok := machines[runtime.GOARCH]; ok && (f.Machine != want || f.Class != elf.ELFCLASS64) {
		return fmt.Errorf("%s is built for %s (%s), but this machine runs %s (%s): install the plugin for this machine's architecture",
			path, f.Machine, f.Class, want, runtime.GOARCH)
	}
	if f.Type != elf.ET_DYN {
		return fmt.Errorf("%s is an ELF %s, not a shared library", path, f.Type)
	}
	for _, p := range f.Progs {
		if end := p.Off + p.Filesz; end > uint64(fi.Size()) {
			return fmt.Errorf("%s is cut short: it is %d bytes, but its contents reach byte %d (an interrupted download or copy?): reinstall it",
				path, fi.Size(), end)
		}
	}
	syms, err := f.DynamicSymbols()
	if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
		return fmt.Errorf("%s is damaged: its symbol table cannot be read (%v): reinstall it", path, err)
	}
	for _, s := range syms {
		if s.Name == "GetPjrtApi" && elf.ST_TYPE(s.Info) == elf.STT_FUNC && s.Section != elf.SHN_UNDEF {
			return nil
		}
	}
	return fmt.Errorf("%s exports no GetPjrtApi function: it is not a PJRT plugin", path)
}

// isELF reports whether the file starts with ELF's magic number.
func isELF(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	magic := make([]byte, 4)
	n, _ := f.Read(magic)
	return n == 4 && string(magic) == elf.ELFMAG
}
