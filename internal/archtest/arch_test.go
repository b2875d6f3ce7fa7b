// Package archtest checks the project's layering: which packages may depend on which. Each rule says why
// a package is where it is; a change that breaks one fails here, naming the import chain.
package archtest

import (
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/gonbgpu/gonbgpu"

// root is the checkout: two folders above this file.
func root(t *testing.T) string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller information")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// imports returns what the package in the checkout's folder rel imports, its tests' imports too when
// withTests, as the build would see them (build tags applied). Files are read in this process, so go
// test's cache knows when they change.
func imports(t *testing.T, rel string, withTests bool) []string {
	t.Helper()
	p, err := build.Default.ImportDir(filepath.Join(root(t), rel), 0)
	if err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	out := slices.Clone(p.Imports)
	if withTests {
		out = append(append(out, p.TestImports...), p.XTestImports...)
	}
	return out
}

// closure follows the module's own imports from the packages in rels and returns every import reached
// (the module's packages and the first step outside it), each with the chain that reaches it.
func closure(t *testing.T, withTests bool, rels ...string) map[string]string {
	t.Helper()
	seen := map[string]string{}
	var visit func(rel, chain string, tests bool)
	visit = func(rel, chain string, tests bool) {
		for _, imp := range imports(t, rel, tests) {
			if _, ok := seen[imp]; ok {
				continue
			}
			seen[imp] = chain + " → " + imp
			if inner, ok := strings.CutPrefix(imp, module+"/"); ok {
				visit(inner, seen[imp], false) // a dependency's tests are not built
			}
		}
	}
	for _, rel := range rels {
		visit(rel, module+"/"+rel, withTests)
	}
	return seen
}

// packages lists the folders holding Go packages under rel.
func packages(t *testing.T, rel string) []string {
	t.Helper()
	var out []string
	matches, _ := filepath.Glob(filepath.Join(root(t), rel, "*.go"))
	if len(matches) > 0 {
		out = append(out, rel)
	}
	dirs, _ := filepath.Glob(filepath.Join(root(t), rel, "*"))
	for _, d := range dirs {
		if name := filepath.Base(d); name != "testdata" && !strings.HasPrefix(name, ".") && isDir(d) {
			out = append(out, packages(t, filepath.Join(rel, name))...)
		}
	}
	return out
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// TestVisionNeverLooksForGPUs: the libraries that compute are handed a platform.Choice (package
// gpu/platform, the value, free of cgo); they never import the rest of package gpu (plugin discovery,
// NVML, go-xla's loader), not even in their tests.
func TestVisionNeverLooksForGPUs(t *testing.T) {
	rels := packages(t, "vision")
	if len(rels) < 10 {
		t.Fatalf("found only %v: the walk is broken", rels)
	}
	for imp, chain := range closure(t, true, rels...) {
		if isGPU(imp) {
			t.Errorf("vision/… reaches package gpu: %s", chain)
		}
	}
}

// isGPU reports whether imp is package gpu or one of its sub-packages other than gpu/platform (and its own).
func isGPU(imp string) bool {
	if imp == module+"/gpu/platform" || strings.HasPrefix(imp, module+"/gpu/platform/") {
		return false
	}
	return imp == module+"/gpu" || strings.HasPrefix(imp, module+"/gpu/")
}

// TestPlatformIsLight: the values every computing package imports carry no cgo library, no backend, no
// graph library and none of gonbgpu's tooling (internal/): a convolution op that reads platform.IsPureGo
// drags nothing in, and imports run one way, from tooling to the libraries.
func TestPlatformIsLight(t *testing.T) {
	rels := packages(t, "gpu/platform")
	if len(rels) < 2 {
		t.Fatalf("found only %v: the walk is broken", rels)
	}
	for imp, chain := range closure(t, false, rels...) {
		if strings.HasPrefix(imp, "github.com/gomlx/go-xla") || strings.HasPrefix(imp, "github.com/gomlx/gomlx") ||
			strings.HasPrefix(imp, module+"/internal/") || isGPU(imp) || imp == "C" {
			t.Errorf("gpu/platform reaches %s", chain)
		}
	}
}

// TestTopLevelIsTheCard: the top level shows the product's shape: kernel/, notebooks/, gpu/, install/
// and Go's cmd/ and internal/, the domain library vision/, and scripts/, which holds gpu-check.sh alone
// because the developers' guide names it there (the build environment for scripts is install/env.sh).
// A new top-level folder fails here, and so does a second file in scripts/: put it where what it holds
// belongs.
func TestTopLevelIsTheCard(t *testing.T) {
	allowed := map[string]bool{"cmd": true, "internal": true, "vision": true, "kernel": true, "notebooks": true,
		"gpu": true, "install": true, "scripts": true}
	out, err := exec.Command("git", "-C", root(t), "ls-files").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	seen := map[string]bool{}
	for _, f := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		top, _, isDir := strings.Cut(f, "/")
		if isDir && !strings.HasPrefix(top, ".") && !seen[top] {
			seen[top] = true
			if !allowed[top] {
				t.Errorf("top-level folder %s/ is not the card's", top)
			}
		}
	}
	if len(seen) < 6 {
		t.Fatalf("found only %v at the top level: the listing is broken", seen)
	}
	for _, f := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.HasPrefix(f, "scripts/") && f != "scripts/gpu-check.sh" {
			t.Errorf("%s: scripts/ holds gpu-check.sh alone; build helpers go into install/, tooling into internal/", f)
		}
	}
}

// TestOneCLI: gonbgpu is the one command people run; other programs (the kernelspec's launcher) are
// tooling, under internal/.
func TestOneCLI(t *testing.T) {
	var mains []string
	for _, rel := range packages(t, ".") {
		if rel == "internal" || strings.HasPrefix(rel, "internal/") {
			continue
		}
		p, err := build.Default.ImportDir(filepath.Join(root(t), rel), 0)
		if err == nil && p.Name == "main" {
			mains = append(mains, rel)
		}
	}
	if !slices.Equal(mains, []string{"cmd/gonbgpu"}) {
		t.Fatalf("commands outside internal/: %v, want only cmd/gonbgpu", mains)
	}
}

// TestKernelIsCheapToLink: package kernel and its sub-packages are what cells call, and every cell links
// what they import. They never reach the device discovery (package gpu but its cgo-free value gpu/platform,
// NVML, go-xla's plugin loader) nor cgo: a cell that imported package gpu took 2.1 s against 0.26 s for a plain cell and 0.42 s for one that
// builds a tensor (installed kernel, 2-core machine, 2026-12-05). gpu.ShowDevices is where a cell that
// wants the device table pays for it.
func TestKernelIsCheapToLink(t *testing.T) {
	rels := packages(t, "kernel")
	if len(rels) < 2 {
		t.Fatalf("found only %v: the walk is broken", rels)
	}
	for imp, chain := range closure(t, false, rels...) {
		if strings.HasPrefix(imp, "github.com/gomlx/go-xla") || imp == module+"/internal/nvml" || isGPU(imp) || imp == "C" {
			t.Errorf("a cell helper reaches %s", chain)
		}
	}
}

// cliFlag is a command-line flag written in a message: --batch, --init-from. SLURM's own options (--gres)
// are what a message tells a user to ask SLURM for, and stay.
var cliFlag = regexp.MustCompile(`(^|[^-\w])--([a-z][a-z-]*)`)

// argument is a string literal that is one flag and nothing else: an argument for another program.
var argument = regexp.MustCompile(`^"--[a-z][a-z-]*"$`)

// TestVisionNamesOptionsNotFlags: the vision libraries (and platform and kernel, which cells call) are called
// from notebooks as much as from the CLI,
// so their messages name the option a caller set (Options.Batch, Config.Resume), never a flag of
// gonbgpu's command line, which a notebook user never typed; cmd/gonbgpu maps the names to its flags
// when it prints. Only string literals count: doc comments may say which flag sets a field.
func TestVisionNamesOptionsNotFlags(t *testing.T) {
	files := parseFiles(t, "vision", "gpu/platform", "kernel")
	for file, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			if v, ok := n.(*ast.ValueSpec); ok && len(v.Names) == 1 && v.Names[0].Name == "legacySettings" {
				return false // the flags old checkpoints recorded, read under today's names
			}
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			if argument.MatchString(lit.Value) {
				return true // an argument handed to another program (a Python script's --threads), not a message
			}
			for _, m := range cliFlag.FindAllStringSubmatch(lit.Value, -1) {
				if !strings.HasPrefix(m[2], "gres") {
					t.Errorf("%s: a message names the flag --%s: name the option field instead (%s)", file, m[2], lit.Value)
				}
			}
			return true
		})
	}
	if len(files) < 30 {
		t.Fatalf("read only %d files under vision/, gpu/platform/ and kernel/: the walk is broken", len(files))
	}
}

// parseFiles parses the non-test Go files of the packages under the given top folders, by path from the
// checkout's root.
func parseFiles(t *testing.T, tops ...string) map[string]*ast.File {
	t.Helper()
	out := map[string]*ast.File{}
	for _, top := range tops {
		for _, rel := range packages(t, top) {
			files, _ := filepath.Glob(filepath.Join(root(t), rel, "*.go"))
			for _, file := range files {
				if strings.HasSuffix(file, "_test.go") {
					continue
				}
				f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.SkipObjectResolution)
				if err != nil {
					t.Fatal(err)
				}
				out[filepath.ToSlash(strings.TrimPrefix(file, root(t)+string(filepath.Separator)))] = f
			}
		}
	}
	return out
}

// libraryFiles parses the non-test Go files of the libraries: what notebooks and other programs import,
// as against the commands (cmd/) and the project's own tooling (internal/), which are edges.
func libraryFiles(t *testing.T) map[string]*ast.File {
	t.Helper()
	out := parseFiles(t, "gpu", "vision", "kernel", "install")
	if len(out) < 60 {
		t.Fatalf("read only %d library files: the walk is broken", len(out))
	}
	return out
}

// envWriters are the calls that change this process's environment.
var envWriters = map[string]bool{"os.Setenv": true, "os.Unsetenv": true, "os.Clearenv": true, "syscall.Setenv": true, "syscall.Unsetenv": true}

// TestLibrariesLeaveTheEnvironmentAlone: a library is configured by values (gpu.Options, recipe.Options);
// writing the process's environment is configuration by a global that every later caller, and every child
// process, inherits unasked. Environment variables are read at the edges (cmd/, gpu.Default); a child is
// handed its environment as exec.Cmd.Env. The one exception is gpu's handOverToCUDA: XLA and CUDA read
// XLA_FLAGS and CUDA_DEVICE_ORDER from the environment as the plugin loads, and take them no other way.
func TestLibrariesLeaveTheEnvironmentAlone(t *testing.T) {
	allowed := map[string]bool{"gpu/backend.go handOverToCUDA": true}
	for name, f := range libraryFiles(t) {
		for _, decl := range f.Decls {
			fn, _ := decl.(*ast.FuncDecl)
			where := name
			if fn != nil {
				where += " " + fn.Name.Name
			}
			ast.Inspect(decl, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				pkg, ok := sel.X.(*ast.Ident)
				if ok && envWriters[pkg.Name+"."+sel.Sel.Name] && !allowed[where] {
					t.Errorf("%s: %s.%s changes the process's environment: take the setting as a value (an Options field), and give a child process its environment as exec.Cmd.Env",
						where, pkg.Name, sel.Sel.Name)
				}
				return true
			})
		}
	}
}

// envReaders are the calls that read this process's environment.
var envReaders = map[string]bool{"os.Getenv": true, "os.LookupEnv": true, "os.Environ": true, "os.ExpandEnv": true,
	"syscall.Getenv": true, "syscall.Environ": true, "slurm.FromEnvironment": true, "catalog.FromEnvironment": true,
	"gpu.OptionsFromEnvironment": true}

// TestVisionReadsNoEnvironment: the computing libraries (vision/) are configured by the values they are
// handed — recipe.Options, trainer.Config, the platform.Choice and its Job (SLURM's GPUs, CUDA's mask) —
// never by the process's environment, which the edges read once: the commands, gpu.Default for cells.
// The exceptions are named: catalog.FromEnvironment is the edge's reader of $GONBGPU_DATA, and
// data.Locate is the cells' way to it (recipe.Options.Datasets is a value its callers fill).
func TestVisionReadsNoEnvironment(t *testing.T) {
	allowed := map[string]bool{"vision/data/catalog/catalog.go FromEnvironment": true, "vision/data/locate.go Locate": true}
	files := parseFiles(t, "vision")
	if len(files) < 30 {
		t.Fatalf("read only %d files: the walk is broken", len(files))
	}
	for name, f := range files {
		for _, decl := range f.Decls {
			where := name
			if fn, ok := decl.(*ast.FuncDecl); ok {
				where += " " + fn.Name.Name
			}
			ast.Inspect(decl, func(n ast.Node) bool {
				sel, ok := n.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				if pkg, ok := sel.X.(*ast.Ident); ok && envReaders[pkg.Name+"."+sel.Sel.Name] && !allowed[where] {
					t.Errorf("%s: %s.%s reads the process's environment: take the setting as a value (an Options field, the platform.Choice's Job), read at the edge",
						where, pkg.Name, sel.Sel.Name)
				}
				return true
			})
		}
	}
}

// TestLibrariesHaveNoGlobalWriters: where a library writes (a log, an announcement) is the caller's to
// say, as a value (an Options field, an argument); an exported package-level writer is a global that one
// caller sets for all, as gpu.Log was.
func TestLibrariesHaveNoGlobalWriters(t *testing.T) {
	isWriter := func(e ast.Expr) bool {
		switch e := e.(type) {
		case *ast.SelectorExpr:
			x, ok := e.X.(*ast.Ident)
			return ok && (x.Name == "io" && e.Sel.Name == "Writer" || x.Name == "os" && (e.Sel.Name == "Stdout" || e.Sel.Name == "Stderr"))
		case *ast.StarExpr:
			sel, ok := e.X.(*ast.SelectorExpr)
			if !ok {
				return false
			}
			x, ok := sel.X.(*ast.Ident)
			return ok && x.Name == "os" && sel.Sel.Name == "File"
		}
		return false
	}
	for name, f := range libraryFiles(t) {
		for _, decl := range f.Decls {
			gen, ok := decl.(*ast.GenDecl)
			if !ok || gen.Tok != token.VAR {
				continue
			}
			for _, spec := range gen.Specs {
				v := spec.(*ast.ValueSpec)
				writer := v.Type != nil && isWriter(v.Type)
				for _, val := range v.Values {
					writer = writer || isWriter(val)
				}
				for _, id := range v.Names {
					if writer && id.IsExported() {
						t.Errorf("%s: exported package-level writer %s: take the writer as a value (an Options field or an argument)", name, id.Name)
					}
				}
			}
		}
	}
}

// TestInstallIsData: install/ is what the Makefile, the scripts and the installer read (build.env,
// python/, slurm/), and its Go API is only the build environment that more than one package builds with
// (the installer and `gonbgpu bench compare`). The installer itself is the CLI's, under internal/installer:
// a name only the CLI uses belongs there, not in install/. install/ imports nothing of the module, so that
// imports run one way, from the installer to it.
func TestInstallIsData(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(root(t), "install", "*.go"))
	var exported []string
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Name.IsExported() && d.Recv == nil {
					exported = append(exported, d.Name.Name)
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						if s.Name.IsExported() {
							exported = append(exported, s.Name.Name)
						}
					case *ast.ValueSpec:
						for _, n := range s.Names {
							if n.IsExported() {
								exported = append(exported, n.Name)
							}
						}
					}
				}
			}
		}
	}
	if len(files) == 0 {
		t.Fatal("no Go file in install/: the walk is broken")
	}
	slices.Sort(exported)
	if want := []string{"BuildEnv", "Toolchain"}; !slices.Equal(exported, want) {
		t.Errorf("install/ exports %v, want only the build environment %v: what only the CLI uses goes into internal/installer", exported, want)
	}
	for _, imp := range imports(t, "install", true) {
		if strings.HasPrefix(imp, module+"/") {
			t.Errorf("install/ imports %s: it is what the installer builds on, and imports nothing of the module", imp)
		}
	}
}

// libraryHelpers are the packages under internal/ that the libraries build on: private pieces of a
// library (a custom gradient, tensor and file helpers, SLURM's and a plugin's facts, the NVML and .ipynb
// readers, the wait for GoNB to read what a cell printed), each importing nothing of the tooling. Everything else under internal/ is tooling (the
// installer, the kernel's proxy and its tests' drivers, notebook runners, checks) and is built on the
// libraries, never under them.
var libraryHelpers = map[string]bool{"customvjp": true, "fsutil": true, "ipynb": true, "nvml": true, "pjrtapi": true,
	"pysite": true, "slurm": true, "stdoutpipe": true, "tensorutil": true, "xlacpu": true}

// TestLibrariesImportNoTooling: imports run one way, from the tooling to the libraries. A library (gpu/,
// vision/, kernel/, install/) reaches under internal/ only the helpers listed in libraryHelpers; a new
// package there that a library needs is added to the list on purpose, with what it holds.
func TestLibrariesImportNoTooling(t *testing.T) {
	var rels []string
	for _, top := range []string{"vision", "gpu", "kernel", "install"} {
		rels = append(rels, packages(t, top)...)
	}
	reached := 0
	for imp, chain := range closure(t, false, rels...) {
		inner, ok := strings.CutPrefix(imp, module+"/internal/")
		if !ok {
			continue
		}
		reached++
		if name, _, _ := strings.Cut(inner, "/"); !libraryHelpers[name] {
			t.Errorf("a library reaches tooling under internal/: %s", chain)
		}
	}
	if reached == 0 {
		t.Fatal("no library reaches internal/: the walk is broken")
	}
}

// TestLibrariesNeverInstall: the installer (internal/installer: Jupyter, apt-get, the kernelspec folder) is
// the CLI's and the tests'; no library (vision/, gpu/, kernel/, install/) reaches it, not even in its tests.
func TestLibrariesNeverInstall(t *testing.T) {
	var rels []string
	for _, top := range []string{"vision", "gpu", "kernel", "install"} {
		rels = append(rels, packages(t, top)...)
	}
	if len(rels) < 15 {
		t.Fatalf("found only %v: the walk is broken", rels)
	}
	for imp, chain := range closure(t, true, rels...) {
		if imp == module+"/internal/installer" {
			t.Errorf("a library reaches the installer: %s", chain)
		}
	}
}
