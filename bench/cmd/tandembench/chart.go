package main

import (
	"fmt"
	"html"
	"strings"
)

// chartColors gives each contender a fixed color: the floor grey, the other frameworks
// warm, tandem blue.
var chartColors = map[string]string{
	"rawtcp":         "#8c8c8c",
	"netrpc":         "#e8a33d",
	"grpc":           "#d0543f",
	"tandem-msgpack": "#1f5fbf",
	"tandem-json":    "#5b8fd9",
	"tandem-gob":     "#93b7ea",
	"tandem-gen":     "#0b2f73",
}

// svg draws one panel of horizontal bars per rate workload: the median rate of each
// contender, each panel on its own scale.
func (r *results) svg() string {
	const (
		width    = 760
		labelW   = 130
		barMaxW  = 520
		barH     = 16
		barGap   = 5
		titleH   = 26
		panelGap = 14
	)
	var panels []string
	for _, w := range ratioWorkloads {
		if r.has(w) {
			panels = append(panels, w)
		}
	}
	panelH := titleH + len(r.Contenders)*(barH+barGap)
	height := 40 + len(panels)*(panelH+panelGap)

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="10" y="22" font-size="15" font-weight="bold">%s</text>`+"\n",
		html.EscapeString(fmt.Sprintf("tandem benchmarks, %s: median of %d rounds (higher is better)", r.Started.Format("2006-01-02"), r.Rounds)))
	y := 40
	for _, w := range panels {
		wl := workloadByName(w)
		fmt.Fprintf(&b, `<text x="10" y="%d" font-weight="bold">%s</text>`+"\n", y+16, html.EscapeString(fmt.Sprintf("%s: %s, %s", w, wl.about, wl.unit)))
		top := 0.0
		for _, c := range r.Contenders {
			if v, ok := r.median(w, c, rate); ok {
				top = max(top, v)
			}
		}
		by := y + titleH
		for _, c := range r.Contenders {
			v, ok := r.median(w, c, rate)
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", labelW-6, by+barH-4, html.EscapeString(c))
			if ok && top > 0 {
				bw := int(float64(barMaxW) * v / top)
				fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s"/>`+"\n", labelW, by, max(bw, 1), barH, colorOf(c))
				fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", labelW+bw+4, by+barH-4, fmtRate(v))
			}
			by += barH + barGap
		}
		y += panelH + panelGap
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func colorOf(c string) string {
	if col, ok := chartColors[c]; ok {
		return col
	}
	return "#444444"
}
