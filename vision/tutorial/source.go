package tutorial

import (
	_ "embed"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"strings"
)

//go:embed tutorial.go
var source string

// Source returns the source of the named declarations of this package (functions, types, constants),
// each with its doc comment, as the chapter shows them: the code the reader sees is the code that runs.
func Source(names ...string) (string, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "tutorial.go", source, parser.ParseComments)
	if err != nil {
		return "", err
	}
	found := map[string]string{}
	text := func(n ast.Node, doc *ast.CommentGroup) string {
		start := n.Pos()
		if doc != nil {
			start = doc.Pos()
		}
		return source[fset.Position(start).Offset:fset.Position(n.End()).Offset]
	}
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			found[d.Name.Name] = text(d, d.Doc)
		case *ast.GenDecl:
			for _, s := range d.Specs {
				switch s := s.(type) {
				case *ast.TypeSpec:
					found[s.Name.Name] = text(d, d.Doc)
				case *ast.ValueSpec:
					for _, n := range s.Names {
						found[n.Name] = text(d, d.Doc)
					}
				}
			}
		}
	}
	var parts []string
	for _, n := range names {
		s, ok := found[n]
		if !ok {
			return "", fmt.Errorf("tutorial.Source: no declaration %q in vision/tutorial/tutorial.go", n)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "\n\n"), nil
}
