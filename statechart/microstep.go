package statechart

import "sort"

// microstep takes a set of transitions: exit set (deepest first, history
// recorded, exit actions), transition actions in order, entry set
// (document order, entry actions, done events). It reports whether the
// configuration, history or context changed.
func (in *Interpreter) microstep(ts []*Transition, ev Event) (bool, error) {
	if len(ts) == 0 {
		return false, nil
	}
	in.changed = false
	ts = in.removeConflicts(ts)
	if err := in.exitStates(ts, ev); err != nil {
		return false, err
	}
	for _, t := range ts {
		if err := in.runActions(t.actions, ev); err != nil {
			return false, err
		}
	}
	es := newEntrySet()
	for _, t := range ts {
		in.computeEntry(t, es)
	}
	if err := in.enterStates(es, ev); err != nil {
		return false, err
	}
	return in.changed, nil
}

func sortedNodes(set map[*StateNode]bool, desc bool) []*StateNode {
	out := make([]*StateNode, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return (out[i].order < out[j].order) != desc })
	return out
}

func (in *Interpreter) exitStates(ts []*Transition, ev Event) error {
	exit := sortedNodes(in.exitSet(ts), true)
	for _, s := range exit {
		for _, h := range s.Children {
			if h.Type != History {
				continue
			}
			var rec []*StateNode
			for _, n := range in.m.nodes {
				if !in.active[n.order] {
					continue
				}
				if (h.Deep && len(n.Children) == 0 && isDescendant(n, s)) || (!h.Deep && n.Parent == s) {
					rec = append(rec, n)
				}
			}
			in.hist[h] = rec
			in.changed = true
		}
	}
	for _, s := range exit {
		if err := in.runActions(s.exit, ev); err != nil {
			return err
		}
		in.active[s.order] = false
		in.changed = true
	}
	return nil
}

// entrySet is statesToEnter plus statesForDefaultEntry.
type entrySet struct {
	enter, dflt map[*StateNode]bool
}

func newEntrySet() *entrySet {
	return &entrySet{enter: map[*StateNode]bool{}, dflt: map[*StateNode]bool{}}
}

// coveredBelow reports whether a state strictly inside n is to be entered.
func (es *entrySet) coveredBelow(n *StateNode) bool {
	for s := range es.enter {
		if isDescendant(s, n) {
			return true
		}
	}
	return false
}

// computeEntry is computeEntrySet for one transition.
func (in *Interpreter) computeEntry(t *Transition, es *entrySet) {
	d, all := in.domain(t)
	for _, s := range t.Targets {
		if s.Type != History && (t.Source != s || t.Source != d || t.Reenter) {
			es.enter[s], es.dflt[s] = true, true
		}
		in.addDescendants(s, es)
	}
	for _, s := range in.effectiveTargets(t) {
		var ancs []*StateNode
		if all {
			ancs = properAncestors(s, nil)
		} else {
			ancs = properAncestors(s, d)
		}
		if d != nil && d.Type == Parallel {
			ancs = append(ancs, d)
		}
		reDomain := d
		if all || (t.Source.Parent == nil && t.Reenter) {
			reDomain = nil
		}
		in.addAncestors(es, ancs, reDomain)
	}
}

// addDescendants is addDescendantStatesToEnter.
func (in *Interpreter) addDescendants(n *StateNode, es *entrySet) {
	switch n.Type {
	case History:
		states, fromDefault := in.hist[n], false
		if _, ok := in.hist[n]; !ok {
			dt := historyDefault(n)
			states, fromDefault = dt.Targets, dt == n.Parent.initial
		}
		for _, s := range states {
			es.enter[s] = true
			if fromDefault {
				es.dflt[n.Parent] = true
			}
			in.addDescendants(s, es)
		}
		for _, s := range states {
			in.addAncestors(es, properAncestors(s, n.Parent), nil)
		}
	case Compound:
		init := n.initial.Targets[0]
		if init.Type != History {
			es.enter[init], es.dflt[init] = true, true
		}
		in.addDescendants(init, es)
		in.addAncestors(es, properAncestors(init, n), nil)
	case Parallel:
		for _, c := range n.regions() {
			if !es.coveredBelow(c) {
				es.enter[c], es.dflt[c] = true, true
				in.addDescendants(c, es)
			}
		}
	}
}

// addAncestors is addAncestorStatesToEnter; reDomain nil enters every
// ancestor given.
func (in *Interpreter) addAncestors(es *entrySet, ancs []*StateNode, reDomain *StateNode) {
	for _, a := range ancs {
		if reDomain == nil || isDescendant(a, reDomain) {
			es.enter[a] = true
		}
		if a.Type != Parallel {
			continue
		}
		for _, c := range a.regions() {
			if !es.coveredBelow(c) {
				es.enter[c] = true
				in.addDescendants(c, es)
			}
		}
	}
}

// enterStates enters the entry set in document order and raises done
// events; reaching a top-level final state ends the machine, running the
// exit actions of every active state (deepest first, the root last).
func (in *Interpreter) enterStates(es *entrySet, ev Event) error {
	completed := map[*StateNode]bool{}
	for _, s := range sortedNodes(es.enter, false) {
		in.active[s.order] = true
		in.changed = true
		if err := in.runActions(s.entry, ev); err != nil {
			return err
		}
		if es.dflt[s] && s.initial != nil && s.Type == Compound {
			if err := in.runActions(s.initial.actions, ev); err != nil {
				return err
			}
		}
		if s.Type != Final {
			continue
		}
		if in.finalEntered(s, completed) {
			continue
		}
		in.status = StatusDone
	}
	if in.status != StatusDone {
		return nil
	}
	for i := len(in.m.nodes) - 1; i >= 0; i-- {
		if n := in.m.nodes[i]; in.active[i] {
			if err := in.runActions(n.exit, ev); err != nil {
				return err
			}
		}
	}
	return nil
}

// finalEntered queues the done events for entering final state s and
// reports whether the machine goes on (false: the root is done).
func (in *Interpreter) finalEntered(s *StateNode, completed map[*StateNode]bool) bool {
	parent := s.Parent
	marker := parent.Parent
	if parent.Type == Parallel {
		marker = parent
	}
	if parent.Type == Compound {
		in.internal = append(in.internal, Event{Name: "xstate.done.state." + parent.ID})
	}
	for marker != nil && marker.Type == Parallel && !completed[marker] && in.inFinalState(marker) {
		completed[marker] = true
		in.internal = append(in.internal, Event{Name: "xstate.done.state." + marker.ID})
		marker = marker.Parent
	}
	return marker != nil
}

func (in *Interpreter) inFinalState(n *StateNode) bool {
	switch n.Type {
	case Compound:
		for _, c := range n.Children {
			if c.Type == Final && in.active[c.order] {
				return true
			}
		}
		return false
	case Parallel:
		for _, c := range n.regions() {
			if !in.inFinalState(c) {
				return false
			}
		}
		return true
	}
	return n.Type == Final
}

// enterInitial enters the root and its default descendants, as XState's
// initial microstep does (the root's initial actions run too).
func (in *Interpreter) enterInitial(ev Event) error {
	es := newEntrySet()
	es.enter[in.m.root], es.dflt[in.m.root] = true, true
	in.addDescendants(in.m.root, es)
	return in.enterStates(es, ev)
}
