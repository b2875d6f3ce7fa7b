package kernelproxy

import (
	"go/scanner"
	"go/token"
	"strings"
)

// IsComplete answers Jupyter's is_complete_request for a GoNB cell: whether a console should run what
// was typed when Enter is pressed ("complete"), wait for more lines ("incomplete", with the indent of
// the next line), or run it to show the error ("invalid"). It is the same judgement a Go programmer
// makes: brackets still open, a raw string or a /* comment not closed, or a line ending in an operator
// or a comma mean more is coming; a bracket closed that was never opened, or a quoted string cut by the
// end of its line, cannot become valid by typing more.
//
// GoNB's own lines are not Go: `%…` and `!…` commands (continued onto the next line by a final `\`),
// `%%` before main's body, and cells whose first line is a cell magic (`%%writefile`, `%%script`, …),
// which are complete as typed.
func IsComplete(code string) (status, indent string) {
	lines := strings.Split(code, "\n")
	first := strings.Fields(strings.TrimPrefix(lines[0], "//gonb:"))
	if len(first) > 0 && strings.HasPrefix(first[0], "%%") && first[0] != "%%" {
		return "complete", ""
	}
	// Blank out GoNB's command lines, keeping the line count (the scanner's positions then stay right).
	for i := 0; i < len(lines); i++ {
		l := strings.TrimPrefix(lines[i], "//gonb:")
		if !strings.HasPrefix(l, "%") && !strings.HasPrefix(l, "!") {
			continue
		}
		for strings.HasSuffix(lines[i], `\`) {
			lines[i] = ""
			if i++; i == len(lines) {
				return "incomplete", ""
			}
		}
		lines[i] = ""
	}
	src := []byte(strings.Join(lines, "\n"))

	var errs []string
	var s scanner.Scanner
	fset := token.NewFileSet()
	file := fset.AddFile("cell", fset.Base(), len(src))
	s.Init(file, src, func(_ token.Position, msg string) { errs = append(errs, msg) }, 0)

	var open []token.Token // brackets not yet closed
	last := token.ILLEGAL  // the last token that is not an automatic semicolon
	for {
		_, tok, lit := s.Scan()
		if tok == token.EOF {
			break
		}
		if tok == token.SEMICOLON && lit == "\n" {
			continue // inserted at a line's end
		}
		last = tok
		switch tok {
		case token.LPAREN, token.LBRACK, token.LBRACE:
			open = append(open, tok)
		case token.RPAREN, token.RBRACK, token.RBRACE:
			want := map[token.Token]token.Token{token.RPAREN: token.LPAREN, token.RBRACK: token.LBRACK, token.RBRACE: token.LBRACE}[tok]
			if len(open) == 0 || open[len(open)-1] != want {
				return "invalid", ""
			}
			open = open[:len(open)-1]
		}
	}
	for _, e := range errs {
		switch {
		case strings.Contains(e, "raw string literal not terminated"), strings.Contains(e, "comment not terminated"):
			return "incomplete", ""
		default: // a quoted string or rune cut by its line's end, a stray character, …
			return "invalid", ""
		}
	}
	if len(open) > 0 {
		return "incomplete", strings.Repeat("\t", len(open))
	}
	if continues(last) {
		return "incomplete", ""
	}
	return "complete", ""
}

// continues reports whether a line ending in tok goes on on the next line: Go inserts no semicolon after
// an operator, a comma or a dot.
func continues(tok token.Token) bool {
	switch tok {
	case token.COMMA, token.PERIOD, token.ASSIGN, token.DEFINE, token.COLON, token.ARROW, token.LAND, token.LOR, token.NOT:
		return true
	}
	return tok.IsOperator() && tok != token.RPAREN && tok != token.RBRACK && tok != token.RBRACE &&
		tok != token.SEMICOLON && tok != token.INC && tok != token.DEC && tok != token.ELLIPSIS
}
