package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"strconv"
	"time"
)

// The statebus-monitored peer: the statebus bus with one monitor attached
// for the whole cell, reading every trace with its payload, as
// `statebus monitor --json` would. It measures what monitoring costs the
// bus's routing (issue 13: at least 0.8x of the throughput without).

// startMonitor starts the monitor worker on b and waits until the bus has
// accepted it.
func (r *runner) startMonitor(b *broker) (*proc, error) {
	p, err := r.workerProc("monitor", spec{Role: "monitor", Peer: "statebus", Addr: b.addr, Filter: r.sz.MonitorFilter})
	if err != nil {
		return nil, err
	}
	if _, err := p.expect(30*time.Second, "ready"); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

// stopMonitor tells the monitor worker to stop and returns its counts.
func (r *runner) stopMonitor(p *proc) (workerResult, error) {
	if err := p.signalGo(); err != nil {
		return workerResult{}, err
	}
	res, err := r.collect([]*proc{p})
	if err != nil || len(res) == 0 {
		return workerResult{}, err
	}
	return res[0], nil
}

// runMonitor attaches a monitor and counts traces until stdin says "go"
// (the cell is over); the dropped counts the bus reports are summed.
func runMonitor(ctx context.Context, sp *spec, ready func(), stdin *bufio.Reader) (workerResult, error) {
	var res workerResult
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", sp.Addr)
	if err != nil {
		return res, err
	}
	defer c.Close()
	req := `{"Type":"Monitor","Id":1}`
	if sp.Filter != "" {
		req = `{"Type":"Monitor","Id":1,"Payload":` + sp.Filter + `}`
	}
	if _, err := c.Write([]byte(req + "\n")); err != nil {
		return res, err
	}
	rd := bufio.NewReaderSize(c, 1<<16)
	line, err := rd.ReadSlice('\n')
	if err != nil {
		return res, err
	}
	if !bytes.HasPrefix(line, []byte(`{"Success":true,"Data":{"Monitoring":true}`)) {
		return res, fmt.Errorf("bench: Monitor refused: %s", bytes.TrimSpace(line))
	}
	ready()
	stop := make(chan struct{})
	go func() {
		stdin.ReadString('\n')
		close(stop)
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond)) // drain what is in flight
	}()
	dropped := []byte(`"Type":"dropped"`)
	count := []byte(`"Count":`)
	for {
		line, err := rd.ReadSlice('\n')
		if err != nil {
			select {
			case <-stop:
				return res, nil
			default:
			}
			if err == bufio.ErrBufferFull {
				for err == bufio.ErrBufferFull {
					_, err = rd.ReadSlice('\n')
				}
				res.Traces++
				continue
			}
			return res, err
		}
		res.Traces++
		if bytes.Contains(line, dropped) {
			if i := bytes.LastIndex(line, count); i >= 0 {
				rest := line[i+len(count):]
				j := bytes.IndexAny(rest, ",}")
				if n, err := strconv.ParseUint(string(rest[:max(j, 0)]), 10, 64); err == nil {
					res.TracesMissed += n
				}
			}
		}
	}
}
