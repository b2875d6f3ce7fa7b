package gpu

import (
	"fmt"
	"strings"
)

// DeviceRow is one device as the tables show it: every cell already formatted.
type DeviceRow struct {
	Index, Kind, Name, Memory, Free, Cores, Source, Detail string
}

// DeviceTableHeader names the columns of [DeviceRows], in order.
var DeviceTableHeader = DeviceRow{"#", "Kind", "Name", "Memory used / total", "Free", "Cores", "Source", "Detail"}

// DeviceRows formats devices for display, so that the terminal and the notebook tables show the same cells.
func DeviceRows(devs []Device) []DeviceRow {
	rows := make([]DeviceRow, 0, len(devs))
	for _, d := range devs {
		r := DeviceRow{
			Index:  fmt.Sprint(d.Index),
			Kind:   string(d.Kind),
			Name:   d.Name,
			Free:   FormatBytes(d.MemoryFree),
			Cores:  "-",
			Source: d.Source,
			Detail: d.Detail,
		}
		if d.Kind == CPU {
			r.Index = "host"
		}
		switch {
		case d.MemoryTotal == 0:
			r.Memory = "-"
		default:
			r.Memory = fmt.Sprintf("%s / %s", FormatBytes(d.MemoryUsed()), FormatBytes(d.MemoryTotal))
		}
		if d.Cores > 0 {
			r.Cores = fmt.Sprint(d.Cores)
		}
		rows = append(rows, r)
	}
	return rows
}

func (r DeviceRow) cells() []string {
	return []string{r.Index, r.Kind, r.Name, r.Memory, r.Free, r.Cores, r.Source, r.Detail}
}

// FormatDevices renders devices as a boxed text table in the manner of nvidia-smi, under a title line
// (for example the backend in use).
func FormatDevices(title string, devs []Device) string {
	rows := [][]string{DeviceTableHeader.cells()}
	for _, r := range DeviceRows(devs) {
		rows = append(rows, r.cells())
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
