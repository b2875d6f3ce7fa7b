package kernel

import (
	"fmt"
	"html"
	"strings"
)

// ShowConfusion displays a confusion matrix (counts[true][predicted]) with class names: an HTML table
// shaded by each row's share in a notebook, aligned text elsewhere. The diagonal is what the model got
// right; a dark cell off the diagonal is a pair of classes it confuses.
func ShowConfusion(classes []string, counts [][]int64) {
	if InNotebook() {
		Display(ConfusionHTML(classes, counts), ConfusionText(classes, counts))
		return
	}
	fmt.Print(ConfusionText(classes, counts))
}

func rowTotal(row []int64) int64 {
	var t int64
	for _, c := range row {
		t += c
	}
	return t
}

// ConfusionHTML renders the matrix as a shaded HTML table.
func ConfusionHTML(classes []string, counts [][]int64) string {
	var b strings.Builder
	b.WriteString(`<div class="gonbgpu-confusion">`)
	b.WriteString(`<div style="font-family:monospace;font-weight:bold;margin:4px 0">confusion matrix: rows are the true class, columns the prediction</div>`)
	fmt.Fprintf(&b, `<table style="%s"><tr><th></th>`, tableStyle)
	for _, c := range classes {
		fmt.Fprintf(&b, `<th style="padding:2px 4px;font-weight:normal;writing-mode:vertical-rl;transform:rotate(180deg)">%s</th>`, html.EscapeString(c))
	}
	b.WriteString(`<th style="padding:2px 6px">recall</th></tr>`)
	for i, row := range counts {
		name := fmt.Sprint(i)
		if i < len(classes) {
			name = classes[i]
		}
		fmt.Fprintf(&b, `<tr><th style="text-align:right;padding:2px 6px;font-weight:normal">%s</th>`, html.EscapeString(name))
		total := rowTotal(row)
		for j, c := range row {
			share := 0.0
			if total > 0 {
				share = float64(c) / float64(total)
			}
			bg := fmt.Sprintf("rgba(0,125,156,%.2f)", share)
			if i != j && c > 0 {
				bg = fmt.Sprintf("rgba(213,94,0,%.2f)", min(1, 2*share))
			}
			fg := "#000"
			if share > 0.55 {
				fg = "#fff"
			}
			fmt.Fprintf(&b, `<td style="border:1px solid #ddd;padding:2px 6px;text-align:right;background:%s;color:%s">%d</td>`, bg, fg, c)
		}
		recall := 0.0
		if total > 0 && i < len(row) {
			recall = float64(row[i]) / float64(total)
		}
		fmt.Fprintf(&b, `<td style="padding:2px 6px;text-align:right">%.2f</td></tr>`, recall)
	}
	b.WriteString(`</table></div>`)
	return b.String()
}

// ConfusionText renders the matrix as aligned text.
func ConfusionText(classes []string, counts [][]int64) string {
	var b strings.Builder
	b.WriteString("confusion matrix (rows: true class, columns: prediction)\n")
	w := 6
	for _, c := range classes {
		w = max(w, len(c))
	}
	for i, row := range counts {
		name := fmt.Sprint(i)
		if i < len(classes) {
			name = classes[i]
		}
		fmt.Fprintf(&b, "%*s", w, name)
		for _, c := range row {
			fmt.Fprintf(&b, " %6d", c)
		}
		b.WriteString("\n")
	}
	return b.String()
}
