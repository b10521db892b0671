package statechart

import (
	"fmt"
	"strconv"
	"strings"
)

// Mermaid draws m as a Mermaid stateDiagram-v2: compound states as
// composite states with their initial marker, parallel regions separated
// by "--", final states as transitions to [*], history states as H / H*.
// Transition labels are the event (or "always", "after 1000ms",
// "done"), the guard in brackets and the actions after a slash.
func Mermaid(m *Machine) string {
	var b strings.Builder
	b.WriteString("stateDiagram-v2\n")
	root := m.root
	if len(root.Children) == 0 {
		fmt.Fprintf(&b, "    state %q as %s\n    [*] --> %s\n", root.ID, mermaidID(root), mermaidID(root))
		mermaidEdges(&b, root, "    ")
		return b.String()
	}
	mermaidChildren(&b, root, "    ")
	mermaidEdges(&b, root, "    ")
	return b.String()
}

func mermaidID(n *StateNode) string {
	var b strings.Builder
	for _, r := range n.ID {
		switch {
		case r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '.':
			b.WriteByte('_')
		default:
			fmt.Fprintf(&b, "_%x_", r)
		}
	}
	return b.String()
}

// mermaidChildren declares n's children inside the current block.
func mermaidChildren(b *strings.Builder, n *StateNode, ind string) {
	for i, c := range n.Children {
		if n.Type == Parallel && i > 0 {
			fmt.Fprintf(b, "%s--\n", ind)
		}
		label := c.Key
		if c.Type == History {
			label = "H"
			if c.Deep {
				label = "H*"
			}
		}
		fmt.Fprintf(b, "%sstate %q as %s\n", ind, label, mermaidID(c))
		if len(c.Children) > 0 {
			fmt.Fprintf(b, "%sstate %s {\n", ind, mermaidID(c))
			mermaidChildren(b, c, ind+"    ")
			mermaidEdges(b, c, ind+"    ")
			fmt.Fprintf(b, "%s}\n", ind)
		}
		if c.Type == Final {
			fmt.Fprintf(b, "%s%s --> [*]\n", ind, mermaidID(c))
		}
	}
	if n.Type == Compound {
		fmt.Fprintf(b, "%s[*] --> %s\n", ind, mermaidID(n.initial.Targets[0]))
	}
}

// mermaidEdges writes the transitions of n's children (or of n itself
// when it is the root).
func mermaidEdges(b *strings.Builder, n *StateNode, ind string) {
	sources := n.Children
	if n.Parent == nil {
		sources = append([]*StateNode{n}, n.Children...)
	}
	for _, s := range sources {
		for _, t := range s.Transitions() {
			targets := t.Targets
			if len(targets) == 0 {
				targets = []*StateNode{s}
			}
			for _, target := range targets {
				fmt.Fprintf(b, "%s%s --> %s: %s\n", ind, mermaidID(s), mermaidID(target), strings.ReplaceAll(edgeLabel(t), ":", "#colon;"))
			}
		}
	}
}

// edgeLabel describes a transition: event, [guard], / actions.
func edgeLabel(t *Transition) string {
	label := t.Event
	switch {
	case t.Event == "":
		label = "always"
	case strings.HasPrefix(t.Event, "xstate.after."):
		for _, a := range t.Source.after {
			if a.event == t.Event {
				label = "after " + a.key
				if _, err := strconv.ParseFloat(a.key, 64); err == nil {
					label += "ms"
				}
			}
		}
	case t.Event == "xstate.done.state."+t.Source.ID:
		label = "done"
	}
	if g := t.GuardName(); g != "" {
		label += " [" + g + "]"
	}
	if acts := t.ActionNames(); len(acts) > 0 {
		label += " / " + strings.Join(acts, ", ")
	}
	return label
}

// DOT draws m as a Graphviz digraph: compound and parallel states are
// clusters (parallel ones dashed) with a point for their initial state;
// edges to and from a compound state attach to that point.
func DOT(m *Machine) string {
	var b strings.Builder
	fmt.Fprintf(&b, "digraph %s {\n  compound=true;\n  rankdir=LR;\n  node [shape=box, style=rounded];\n", strconv.Quote(m.id))
	dotNode(&b, m.root, "  ")
	for _, n := range m.nodes {
		for _, t := range n.Transitions() {
			targets := t.Targets
			if len(targets) == 0 {
				targets = []*StateNode{n}
			}
			for _, target := range targets {
				attrs := []string{"label=" + strconv.Quote(edgeLabel(t))}
				if len(n.Children) > 0 {
					attrs = append(attrs, "ltail="+strconv.Quote("cluster_"+n.ID))
				}
				if len(target.Children) > 0 {
					attrs = append(attrs, "lhead="+strconv.Quote("cluster_"+target.ID))
				}
				fmt.Fprintf(&b, "  %s -> %s [%s];\n", dotAnchor(n), dotAnchor(target), strings.Join(attrs, ", "))
			}
		}
	}
	b.WriteString("}\n")
	return b.String()
}

// dotAnchor is the graph node standing for a state: itself, or the
// initial point of a compound or parallel state's cluster.
func dotAnchor(n *StateNode) string {
	if len(n.Children) > 0 {
		return strconv.Quote(n.ID + ".__initial")
	}
	return strconv.Quote(n.ID)
}

func dotNode(b *strings.Builder, n *StateNode, ind string) {
	if len(n.Children) == 0 {
		shape := ""
		switch n.Type {
		case Final:
			shape = ", peripheries=2"
		case History:
			label := "H"
			if n.Deep {
				label = "H*"
			}
			fmt.Fprintf(b, "%s%s [label=%q, shape=circle];\n", ind, dotAnchor(n), label)
			return
		}
		fmt.Fprintf(b, "%s%s [label=%s%s];\n", ind, dotAnchor(n), strconv.Quote(n.Key), shape)
		return
	}
	style := "rounded"
	if n.Type == Parallel {
		style = "dashed"
	}
	label := n.Key
	if n.Parent == nil {
		label = n.ID
	}
	fmt.Fprintf(b, "%ssubgraph %s {\n%s  label=%s;\n%s  style=%s;\n", ind, strconv.Quote("cluster_"+n.ID), ind, strconv.Quote(label), ind, style)
	fmt.Fprintf(b, "%s  %s [shape=point];\n", ind, dotAnchor(n))
	for _, c := range n.Children {
		dotNode(b, c, ind+"  ")
	}
	if n.Type == Compound {
		fmt.Fprintf(b, "%s  %s -> %s;\n", ind, dotAnchor(n), dotAnchor(n.initial.Targets[0]))
	}
	fmt.Fprintf(b, "%s}\n", ind)
}
