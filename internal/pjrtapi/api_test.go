package pjrtapi

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// goSources parses the non-test Go files of the folders, without following imports.
func goSources(t *testing.T, fset *token.FileSet, dirs ...string) []*ast.File {
	t.Helper()
	var files []*ast.File
	for _, d := range dirs {
		names, _ := filepath.Glob(filepath.Join(d, "*.go"))
		for _, n := range names {
			if strings.HasSuffix(n, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, n, nil, parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, f)
		}
	}
	return files
}

// namesUsed lists every identifier in the bodies of a file's functions and in its package-level values:
// a function is reachable when its name is called or taken as a value (a finalizer, a callback).
func namesUsed(f *ast.File, inside func(fn *ast.FuncDecl) bool) map[string]bool {
	used := map[string]bool{}
	for _, d := range f.Decls {
		var node ast.Node = d
		if fn, ok := d.(*ast.FuncDecl); ok {
			if fn.Body == nil || !inside(fn) {
				continue
			}
			node = fn.Body
		}
		ast.Inspect(node, func(n ast.Node) bool {
			if id, ok := n.(*ast.Ident); ok {
				used[id.Name] = true
			}
			return true
		})
	}
	return used
}

// TestRequiredTableCoversExactlyTheCalls recomputes GoXLALastCall and GoXLANeededSize from the sources in
// the module cache: the PJRT_Api functions that go-xla v0.4.13's pjrt package calls from code that
// GoMLX's XLA backend (go-xla/compute/xla) or gonbgpu reaches, placed in the table order of go-xla's
// pjrt_c_api.h. A plugin is refused when its table ends before the last of them, and only then: go-xla's
// pjrt package also wraps functions nobody here calls (PJRT_Buffer_Bitcast, slot 131, behind
// pjrt.Buffer.Bitcast), and requiring those refused plugins that run everything gonbgpu does.
//
// Reachability is by name, from the identifiers that the backend's and gonbgpu's function bodies use,
// then through the pjrt package's own functions: two methods of one name count as one, which can only
// make the bound higher, never miss a call. C helpers in the package's preambles (api->PJRT_…) count as
// called. The test fails when the bound is lower than a reachable call, or higher than needed.
func TestRequiredTableCoversExactlyTheCalls(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/gomlx/go-xla").Output()
	goxla := strings.TrimSpace(string(out))
	if err != nil || goxla == "" {
		t.Skipf("go-xla's sources are not available here (go list: %v): the GPU machine runs this test binary without Go", err)
	}
	header, err := os.ReadFile(filepath.Join(goxla, "pjrt", "pjrt_c_api.h"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(header), "#define PJRT_API_MINOR 104") || !strings.Contains(string(header), "#define PJRT_API_MAJOR 0") {
		t.Fatalf("go-xla's header is not PJRT C API %d.%d: update GoXLAMajor/GoXLAMinor", GoXLAMajor, GoXLAMinor)
	}
	// The table's function slots, in order.
	var slots []string
	for _, m := range regexp.MustCompile(`(?m)^\s*_PJRT_API_STRUCT_FIELD\((PJRT_\w+)\);`).FindAllStringSubmatch(string(header), -1) {
		slots = append(slots, m[1])
	}
	if len(slots) < 100 {
		t.Fatalf("read only %d function slots from go-xla's pjrt_c_api.h", len(slots))
	}

	fset := token.NewFileSet()
	// Roots: what GoMLX's XLA backend and gonbgpu use.
	roots := map[string]bool{}
	all := func(*ast.FuncDecl) bool { return true }
	backendDirs, _ := filepath.Glob(filepath.Join(goxla, "compute", "xla"))
	for _, f := range goSources(t, fset, backendDirs...) {
		for n := range namesUsed(f, all) {
			roots[n] = true
		}
	}
	ours := 0
	_ = filepath.WalkDir("../..", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".venv" || d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".") && path != "../..") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			if imp.Path.Value == `"github.com/gomlx/go-xla/pjrt"` {
				ours++
				for n := range namesUsed(f, all) {
					roots[n] = true
				}
			}
		}
		return nil
	})
	if ours == 0 {
		t.Fatal("found no gonbgpu file importing go-xla's pjrt package: the walk of the module is wrong")
	}

	// The pjrt package: which names each function uses, and which PJRT functions it calls.
	callRe := regexp.MustCompile(`call_(PJRT_\w+)`)
	preambleRe := regexp.MustCompile(`api->(PJRT_\w+)\(`)
	uses := map[string]map[string]bool{}  // function name → names used in its body
	calls := map[string]map[string]bool{} // function name → PJRT functions called
	always := map[string]bool{}           // called from C helpers
	for _, f := range goSources(t, fset, filepath.Join(goxla, "pjrt")) {
		if strings.HasPrefix(filepath.Base(fset.File(f.Pos()).Name()), "gen_") {
			continue
		}
		for _, cg := range f.Comments {
			for _, m := range preambleRe.FindAllStringSubmatch(cg.Text(), -1) {
				always[m[1]] = true
			}
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			name := fn.Name.Name
			if uses[name] == nil {
				uses[name], calls[name] = map[string]bool{}, map[string]bool{}
			}
			for n := range namesUsed(f, func(g *ast.FuncDecl) bool { return g == fn }) {
				uses[name][n] = true
				if m := callRe.FindStringSubmatch(n); m != nil {
					calls[name][m[1]] = true
				}
			}
		}
		// Package-level values (variables, method values) reach what they name.
		for n := range namesUsed(f, func(*ast.FuncDecl) bool { return false }) {
			roots[n] = true
		}
	}
	// go-xla's cgo preamble is read from the comments above `import "C"`; the files' C helpers too.
	cFiles, _ := filepath.Glob(filepath.Join(goxla, "pjrt", "*.c"))
	for _, c := range cFiles {
		if strings.HasPrefix(filepath.Base(c), "gen_") {
			continue
		}
		data, _ := os.ReadFile(c)
		for _, m := range preambleRe.FindAllStringSubmatch(string(data), -1) {
			always[m[1]] = true
		}
	}

	reached := map[string]bool{}
	todo := []string{}
	for n := range roots {
		todo = append(todo, n)
	}
	for len(todo) > 0 {
		n := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		if reached[n] || uses[n] == nil {
			continue
		}
		reached[n] = true
		for m := range uses[n] {
			todo = append(todo, m)
		}
	}
	needed := map[string]bool{}
	for n := range always {
		needed[n] = true
	}
	every := map[string]bool{}
	for fn, cs := range calls {
		for c := range cs {
			every[c] = true
			if reached[fn] {
				needed[c] = true
			}
		}
	}
	last, lastAll := -1, -1
	for i, s := range slots {
		if needed[s] {
			last = i
		}
		if every[s] {
			lastAll = i
		}
	}
	if last < 0 || lastAll < 0 {
		t.Fatal("found no PJRT_Api call in go-xla's pjrt package")
	}
	t.Logf("go-xla's pjrt package calls up to %s (slot %d); what GoMLX and gonbgpu reach calls up to %s (slot %d), of %d slots",
		slots[lastAll], lastAll, slots[last], last, len(slots))
	if want := 8 + 8 + 24 + 8*(last+1); slots[last] != GoXLALastCall || GoXLANeededSize != want {
		var beyond []string
		for i, s := range slots {
			if needed[s] && 8+8+24+8*(i+1) > GoXLANeededSize {
				beyond = append(beyond, s)
			}
		}
		slices.Sort(beyond)
		t.Fatalf("the last PJRT function reached is %s (slot %d, %d bytes of table); the constants say %s, %d bytes (calls past it: %v)",
			slots[last], last, want, GoXLALastCall, GoXLANeededSize, beyond)
	}
}
