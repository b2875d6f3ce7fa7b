package platform

import (
	"fmt"
	"strings"
)

// Row is one device as the device tables show it: every cell already formatted, so that the terminal
// ([FormatTable]) and the notebook (kernel.DevicesHTML) tables show the same cells.
type Row struct {
	Index, Kind, Name, Memory, Free, Cores, Source, Detail string
}

// Header names the columns of [Rows], in order.
var Header = Row{"#", "Kind", "Name", "Memory used / total", "Free", "Cores", "Source", "Detail"}

// Cells returns the row's cells in column order.
func (r Row) Cells() []string {
	return []string{r.Index, r.Kind, r.Name, r.Memory, r.Free, r.Cores, r.Source, r.Detail}
}

// Rows formats devices for display.
func Rows(devs []Device) []Row {
	rows := make([]Row, 0, len(devs))
	for _, d := range devs {
		r := Row{
			Index:  fmt.Sprint(d.Index),
			Kind:   string(d.Kind),
			Name:   d.Name,
			Memory: "-",
			Free:   FormatBytes(d.MemoryFree),
			Cores:  "-",
			Source: d.Source,
			Detail: d.Detail,
		}
		if d.Kind == CPU {
			r.Index = "host"
		}
		if d.MemoryTotal > 0 {
			r.Memory = fmt.Sprintf("%s / %s", FormatBytes(d.memoryUsed()), FormatBytes(d.MemoryTotal))
		}
		if d.Cores > 0 {
			r.Cores = fmt.Sprint(d.Cores)
		}
		rows = append(rows, r)
	}
	return rows
}

// FormatTable renders devices as a boxed text table in the manner of nvidia-smi, under a title line
// (for example the backend in use).
func FormatTable(title string, devs []Device) string {
	rows := [][]string{Header.Cells()}
	for _, r := range Rows(devs) {
		rows = append(rows, r.Cells())
	}
	widths := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], len([]rune(c)))
		}
	}
	var sep strings.Builder
	sep.WriteString("+")
	total := 1
	for _, w := range widths {
		sep.WriteString(strings.Repeat("-", w+2) + "+")
		total += w + 3
	}
	line := sep.String()
	var b strings.Builder
	b.WriteString("+" + strings.Repeat("-", total-2) + "+\n")
	t := []rune(title)
	if len(t) > total-4 {
		t = append(t[:total-5], '…')
	}
	fmt.Fprintf(&b, "| %s%s |\n", string(t), strings.Repeat(" ", total-4-len(t)))
	b.WriteString(line + "\n")
	for i, r := range rows {
		b.WriteString("|")
		for j, c := range r {
			pad := widths[j] - len([]rune(c))
			if j == 0 || j == 5 { // numbers right-aligned
				fmt.Fprintf(&b, " %s%s |", strings.Repeat(" ", pad), c)
			} else {
				fmt.Fprintf(&b, " %s%s |", c, strings.Repeat(" ", pad))
			}
		}
		b.WriteString("\n")
		if i == 0 {
			b.WriteString(strings.ReplaceAll(line, "-", "=") + "\n")
		}
	}
	b.WriteString(line + "\n")
	return b.String()
}
