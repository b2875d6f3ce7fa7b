package trainer

import (
	"fmt"
	"html"
	"io"
	"os"
	"time"

	"github.com/gonbgpu/gonbgpu/internal/stdoutpipe"
	"github.com/janpfeifer/gonb/gonbui"
	"github.com/janpfeifer/gonb/gonbui/protocol"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// Progress shows how an epoch advances. The trainer calls Start at each epoch's start, Step after each
// training step (with the number of steps done and the epoch's mean loss so far, negative when it was not
// read at that step), and Done at its end.
type Progress interface {
	Start(epoch, epochs, steps int)
	Step(done int, loss float64)
	Done()
}

// ProgressEveryEnv sets how often the plain progress line of batch-job logs is printed, as a Go duration
// (e.g. "10s"; default one minute).
const ProgressEveryEnv = "GONBGPU_PROGRESS_EVERY"

// AutoProgress picks a progress display: a live HTML bar in a notebook cell, a terminal bar when
// standard error is a terminal, and otherwise (a batch job's log file) a plain line every minute (or every
// $GONBGPU_PROGRESS_EVERY), so that a long epoch still shows the job is alive and how far it got.
func AutoProgress() Progress {
	switch {
	case gonbui.IsNotebook:
		return &cellProgress{}
	case term.IsTerminal(int(os.Stderr.Fd())):
		return &termProgress{w: os.Stderr}
	}
	every := time.Minute
	if d, err := time.ParseDuration(os.Getenv(ProgressEveryEnv)); err == nil && d > 0 {
		every = d
	}
	return &LineProgress{W: os.Stdout, Every: every}
}

// LineProgress prints a line at most every Every (and not in the first Every of an epoch):
//
//	epoch 1/10: 117/469 steps (25%), 2.1 steps/s, loss 1.2345, about 2m48s left
type LineProgress struct {
	W     io.Writer
	Every time.Duration

	now                 func() time.Time // the clock; nil: time.Now (a test's fake clock says when time passes)
	epoch, total, steps int
	start, last         time.Time
	loss                float64
}

func (p *LineProgress) clock() time.Time {
	if p.now != nil {
		return p.now()
	}
	return time.Now()
}

func (p *LineProgress) Start(epoch, epochs, steps int) {
	p.epoch, p.total, p.steps = epoch, epochs, steps
	now := p.clock()
	p.start, p.last, p.loss = now, now, -1
}

func (p *LineProgress) Step(done int, loss float64) {
	if loss >= 0 {
		p.loss = loss
	}
	now := p.clock()
	if now.Sub(p.last) < p.Every || done >= p.steps {
		return
	}
	p.last = now
	el := now.Sub(p.start)
	rate := float64(done) / el.Seconds()
	line := fmt.Sprintf("  epoch %d/%d: %d/%d steps (%.0f%%), %.1f steps/s", p.epoch, p.total, done, p.steps,
		100*float64(done)/float64(p.steps), rate)
	if p.loss >= 0 {
		line += fmt.Sprintf(", loss %.4f", p.loss)
	}
	if rate > 0 {
		line += fmt.Sprintf(", about %s left", (time.Duration(float64(p.steps-done)/rate) * time.Second).Round(time.Second))
	}
	fmt.Fprintln(p.W, line)
}

func (p *LineProgress) Done() {}

// NoProgress shows nothing.
type NoProgress struct{}

func (NoProgress) Start(int, int, int) {}
func (NoProgress) Step(int, float64)   {}
func (NoProgress) Done()               {}

// termProgress draws schollz/progressbar on a terminal.
type termProgress struct {
	w   io.Writer
	bar *progressbar.ProgressBar
}

func (p *termProgress) Start(epoch, epochs, steps int) {
	p.bar = progressbar.NewOptions(steps,
		progressbar.OptionSetWriter(p.w),
		progressbar.OptionSetDescription(fmt.Sprintf("epoch %d/%d", epoch, epochs)),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("steps"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetWidth(30),
	)
}

func (p *termProgress) Step(done int, loss float64) {
	if p.bar == nil {
		return
	}
	if loss >= 0 { // read at this step
		p.bar.Describe(fmt.Sprintf("loss %.4f", loss))
	}
	_ = p.bar.Set(done)
}

func (p *termProgress) Done() {
	if p.bar != nil {
		_ = p.bar.Finish()
		p.bar = nil
	}
}

// cellProgress updates one HTML bar in place in the notebook cell's output, for the whole run: each
// epoch restarts it, and the last epoch's final state stays in the saved notebook. (Clearing it at the
// end of every epoch, as it once did, left an empty HTML output per epoch in saved notebooks.)
type cellProgress struct {
	id           string
	epoch, total int
	steps        int
	start, last  time.Time
	loss         float64
	// show replaces the display with id (GoNB's update_display_data); nil sends it to GoNB.
	show func(id, html, text string)
}

func (p *cellProgress) Start(epoch, epochs, steps int) {
	if p.id == "" {
		p.id = "gonbgpu-progress-" + gonbui.UniqueId()
	}
	p.epoch, p.total, p.steps = epoch, epochs, steps
	p.start, p.last, p.loss = time.Now(), time.Time{}, -1
	p.update(0)
}

func (p *cellProgress) Step(done int, loss float64) {
	if loss >= 0 {
		p.loss = loss
	}
	if time.Since(p.last) < 500*time.Millisecond && done < p.steps {
		return
	}
	p.last = time.Now()
	p.update(done)
}

func (p *cellProgress) Done() {
	p.update(p.steps)
	gonbui.Sync()
}

// update shows the bar with done steps, as HTML with a text/plain twin (what text-only viewers show).
func (p *cellProgress) update(done int) {
	html, text := p.render(done)
	if p.show != nil {
		p.show(p.id, html, text)
		return
	}
	if !gonbui.IsNotebook {
		return
	}
	stdoutpipe.Stdout() // the lines printed before the bar (a run's summary) stay above it
	gonbui.SendData(&protocol.DisplayData{
		Data:      map[protocol.MIMEType]any{protocol.MIMETextHTML: html, protocol.MIMETextPlain: text},
		DisplayID: p.id,
	})
}

func (p *cellProgress) render(done int) (htm, text string) {
	pct := 0.0
	if p.steps > 0 {
		pct = 100 * float64(done) / float64(p.steps)
	}
	el := time.Since(p.start).Seconds()
	rate := ""
	if done > 0 && el > 0 {
		rate = fmt.Sprintf(" · %.1f steps/s", float64(done)/el)
	}
	ls := ""
	if p.loss >= 0 {
		ls = fmt.Sprintf(" · loss %.4f", p.loss)
	}
	text = fmt.Sprintf("epoch %d/%d: %d/%d steps%s%s", p.epoch, p.total, done, p.steps, rate, ls)
	htm = fmt.Sprintf(`<div style="font-family:monospace;font-size:12px">%s<div style="width:320px;height:8px;background:#eee;border-radius:4px">`+
		`<div style="width:%.1f%%;height:8px;background:#00ADD8;border-radius:4px"></div></div></div>`, html.EscapeString(text), pct)
	return htm, text
}
