package top

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gdamore/tcell/v2"
)

// Sampler gives samples of a bus; *Source is one.
type Sampler interface {
	Sample(ctx context.Context) (Sample, error)
}

// KeysHelp lists the keys of the live view, as its header shows them.
const KeysHelp = "s/S sort  / filter  Esc clear  q quit"

// Live runs the full-screen view on screen until q, Ctrl+C or the end
// of ctx: a sample every interval (the first at once), drawn with the
// keys' sort and filter. It initializes the screen and always finalizes
// it, restoring the terminal. The caller keeps src: Live only calls its
// Sample, from one goroutine of its own that has ended when Live returns.
func Live(ctx context.Context, screen tcell.Screen, src Sampler, interval time.Duration, order Order) error {
	if err := screen.Init(); err != nil {
		return err
	}
	defer screen.Fini()
	screen.HideCursor()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make(chan sampled, 1)
	sampling := make(chan struct{})
	go func() {
		defer close(sampling)
		sampleEvery(ctx, src, interval, results)
	}()
	defer func() { cancel(); <-sampling }()

	events := make(chan tcell.Event, 16)
	quit := make(chan struct{})
	defer close(quit)
	go screen.ChannelEvents(events, quit)

	v := &liveView{screen: screen, order: order}
	v.draw()
	for {
		select {
		case <-ctx.Done():
			return nil
		case r := <-results:
			v.err = r.err
			if r.err == nil {
				v.view = v.model.Update(r.sample)
				v.have = true
			}
		case ev, ok := <-events:
			if !ok {
				return nil
			}
			switch ev := ev.(type) {
			case *tcell.EventResize:
				screen.Sync()
			case *tcell.EventKey:
				if v.key(ev) {
					return nil
				}
			}
		}
		v.draw()
	}
}

type sampled struct {
	sample Sample
	err    error
}

// sampleEvery sends a sample at once and then every interval, keeping
// only the newest unread one.
func sampleEvery(ctx context.Context, src Sampler, interval time.Duration, out chan sampled) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		s, err := src.Sample(ctx)
		if ctx.Err() != nil {
			return
		}
		select {
		case <-out: // the loop has not taken the last one: replace it
		default:
		}
		out <- sampled{s, err}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// liveView is the live view's state, owned by Live's loop.
type liveView struct {
	screen  tcell.Screen
	model   Model
	view    View
	have    bool
	err     error
	order   Order
	editing bool // typing the filter after "/"
}

// key handles a key press and reports whether to quit.
func (v *liveView) key(ev *tcell.EventKey) bool {
	if ev.Key() == tcell.KeyCtrlC {
		return true
	}
	if v.editing {
		switch ev.Key() {
		case tcell.KeyEnter:
			v.editing = false
		case tcell.KeyEscape:
			v.editing, v.order.Filter = false, ""
		case tcell.KeyBackspace, tcell.KeyBackspace2:
			if f := v.order.Filter; f != "" {
				_, n := utf8.DecodeLastRuneInString(f)
				v.order.Filter = f[:len(f)-n]
			}
		case tcell.KeyRune:
			v.order.Filter += string(ev.Rune())
		}
		return false
	}
	switch ev.Key() {
	case tcell.KeyEscape:
		v.order.Filter = ""
	case tcell.KeyRune:
		switch ev.Rune() {
		case 'q', 'Q':
			return true
		case 's':
			v.order.By, v.order.Reverse = v.order.By.Next(), false
		case 'S':
			v.order.Reverse = !v.order.Reverse
		case '/':
			v.editing = true
		}
	}
	return false
}

var (
	styleNormal  = tcell.StyleDefault
	styleHeading = tcell.StyleDefault.Reverse(true)
	styleWarn    = tcell.StyleDefault.Bold(true)
)

// draw paints the whole screen from the current view.
func (v *liveView) draw() {
	s := v.screen
	s.Clear()
	w, h := s.Size()
	y := 0
	put := func(text string, st tcell.Style) {
		if y < h {
			putLine(s, y, w, text, st)
		}
		y++
	}
	if !v.have {
		put("statebus top - waiting for the bus...", styleNormal)
	}
	t := Layout(v.view, v.order)
	if v.have {
		for i, l := range t.Header {
			st := styleNormal
			if i == len(t.Header)-1 && !v.view.Monitor.OK {
				st = styleWarn
			}
			put(l, st)
		}
	}
	if v.err != nil {
		put("bus unreachable, retrying: "+strings.TrimPrefix(v.err.Error(), "statebus: "), styleWarn)
	}
	orderY := y
	put(v.orderLine(), styleNormal)
	put("", styleNormal)
	if !v.have {
		v.cursor(orderY)
		s.Show()
		return
	}
	put(padTo(t.Heading, w), styleHeading)
	room := h - y
	for i, r := range t.Rows {
		if i == room-1 && len(t.Rows) > room {
			put("… "+itoa(len(t.Rows)-i)+" more (filter with /)", styleNormal)
			break
		}
		put(r, styleNormal)
	}
	if len(v.view.Rows) == 0 {
		put("(no machines registered)", styleNormal)
	} else if len(t.Rows) == 0 {
		put("(no machine matches the filter)", styleNormal)
	}
	v.cursor(orderY)
	s.Show()
}

// cursor shows the cursor after the filter while it is typed.
func (v *liveView) cursor(y int) {
	if v.editing {
		v.screen.ShowCursor(len("filter: ")+utf8.RuneCountInString(v.order.Filter), y)
	} else {
		v.screen.HideCursor()
	}
}

// orderLine shows the sort, the filter and the keys.
func (v *liveView) orderLine() string {
	if v.editing {
		return "filter: " + v.order.Filter
	}
	f := v.order.Filter
	if f == "" {
		f = "-"
	}
	return "sort: " + v.order.Describe() + "  filter: " + f + "  (" + KeysHelp + ")"
}

// putLine writes text on row y from the left, cut at width w.
func putLine(s tcell.Screen, y, w int, text string, st tcell.Style) {
	x := 0
	for _, r := range text {
		if x >= w {
			return
		}
		s.SetContent(x, y, r, nil, st)
		x++
	}
}

// padTo fills text with spaces to w runes, so a styled row spans the screen.
func padTo(text string, w int) string {
	if n := utf8.RuneCountInString(text); n < w {
		return text + strings.Repeat(" ", w-n)
	}
	return text
}

func itoa(n int) string { return pidText(int64(n)) }
