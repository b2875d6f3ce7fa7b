package kernelspec

import _ "embed"

// The kernel's logos, shown by Jupyter's launcher and kernel picker: a GPU chip with "Go" on it.
var (
	//go:embed assets/logo-svg.svg
	logoSVG []byte
	//go:embed assets/logo-32x32.png
	logo32 []byte
	//go:embed assets/logo-64x64.png
	logo64 []byte
)

// Logos returns the kernelspec's logo files by the names Jupyter looks for beside kernel.json.
func Logos() map[string][]byte {
	return map[string][]byte{"logo-svg.svg": logoSVG, "logo-32x32.png": logo32, "logo-64x64.png": logo64}
}
