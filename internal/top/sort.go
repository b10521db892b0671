package top

import (
	"cmp"
	"slices"
	"strings"
)

// Column is a sortable column of the machine table.
type Column int

// The sortable columns, in the order "s" cycles through them.
const (
	ByMachine Column = iota
	ByIn
	ByOut
	ByFailures
	ByQueue
	ByLast
	ByPID
	ByState
	numColumns
)

// String is the column's heading.
func (c Column) String() string {
	switch c {
	case ByMachine:
		return "MACHINE"
	case ByIn:
		return "IN/s"
	case ByOut:
		return "OUT/s"
	case ByFailures:
		return "FAILS"
	case ByQueue:
		return "QUEUE"
	case ByLast:
		return "LAST"
	case ByPID:
		return "PID"
	case ByState:
		return "STATE"
	}
	return "?"
}

// Next is the column after c, wrapping around.
func (c Column) Next() Column { return (c + 1) % numColumns }

// ParseColumn reads a column name as String writes it or in lower case
// without "/s" ("in", "fails"); ok is false for an unknown name.
func ParseColumn(name string) (Column, bool) {
	n := strings.TrimSuffix(strings.ToLower(name), "/s")
	for c := Column(0); c < numColumns; c++ {
		if strings.TrimSuffix(strings.ToLower(c.String()), "/s") == n {
			return c, true
		}
	}
	switch n {
	case "id", "machines":
		return ByMachine, true
	case "failures":
		return ByFailures, true
	case "queued", "queue depth":
		return ByQueue, true
	}
	return 0, false
}

// Order is how the table is shown: the sort column, reversed or not,
// and the filter on machine ids.
type Order struct {
	By      Column
	Reverse bool
	Filter  string // case-insensitive substring of the machine id; "" for all
}

// Describe is the order as the header shows it: "IN/s, busiest first".
func (o Order) Describe() string {
	asc := o.By == ByMachine || o.By == ByPID || o.By == ByState
	if o.Reverse {
		asc = !asc
	}
	dir := "ascending"
	if !asc {
		dir = "descending"
	}
	if o.By == ByLast {
		dir = "latest first"
		if o.Reverse {
			dir = "oldest first"
		}
	}
	return o.By.String() + " " + dir
}

// Apply returns the rows that pass the filter, sorted: names (MACHINE,
// STATE) and PID ascending, figures (rates, failures, queue) largest first and
// LAST latest first; Reverse turns that round. Ties go by machine id.
func (o Order) Apply(rows []Row) []Row {
	out := make([]Row, 0, len(rows))
	for _, r := range rows {
		if Matches(r.ID, o.Filter) {
			out = append(out, r)
		}
	}
	slices.SortStableFunc(out, func(a, b Row) int {
		c := o.compare(a, b)
		if o.Reverse {
			c = -c
		}
		if c == 0 {
			c = cmp.Compare(a.ID, b.ID)
		}
		return c
	})
	return out
}

// compare orders a before b (negative) in the column's natural order.
func (o Order) compare(a, b Row) int {
	switch o.By {
	case ByIn:
		return cmp.Compare(b.InPerSec, a.InPerSec)
	case ByOut:
		return cmp.Compare(b.OutPerSec, a.OutPerSec)
	case ByFailures:
		return cmp.Compare(b.Failures, a.Failures)
	case ByQueue:
		return cmp.Compare(b.Queued, a.Queued)
	case ByLast:
		return b.LastAt.Compare(a.LastAt)
	case ByPID:
		return cmp.Compare(a.PID, b.PID)
	case ByState:
		return cmp.Compare(a.State, b.State)
	}
	return cmp.Compare(a.ID, b.ID)
}
