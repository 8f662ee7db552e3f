package main

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/sdgo/sdgo/pipeline"
	"github.com/sdgo/sdgo/vae"
)

// machineMemory returns the memory a job may use and where that figure
// comes from: /proc/meminfo's MemAvailable (what can be allocated now
// without swapping, page cache that can be dropped included: MemTotal
// would count memory other programs hold), lowered to the cgroup's
// memory.max when a container sets one. ok is false where neither is
// known (not Linux): then only --max-memory bounds a job.
func machineMemory() (n int64, source string, ok bool) {
	if v, found := meminfo("MemAvailable:"); found {
		n, source, ok = v, "available (MemAvailable)", true
	} else if v, found := meminfo("MemTotal:"); found {
		n, source, ok = v, "in all (MemTotal)", true
	}
	if b, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
		if lim, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && (!ok || lim < n) {
			used := int64(0)
			if c, err := os.ReadFile("/sys/fs/cgroup/memory.current"); err == nil {
				used, _ = strconv.ParseInt(strings.TrimSpace(string(c)), 10, 64)
			}
			n, source, ok = max(0, lim-used), "left in its cgroup (memory.max)", true
		}
	}
	return n, source, ok
}

// meminfo reads one /proc/meminfo line, in bytes.
func meminfo(key string) (int64, bool) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err == nil
		}
	}
	return 0, false
}

// parseBytes reads a memory size: a number of bytes, or with a unit
// (K, M, G, T; KB, MB, GB, TB; KiB, MiB, GiB, TiB: all powers of 1024).
func parseBytes(s string) (int64, error) {
	t := strings.TrimSpace(strings.ToUpper(s))
	mult := 1.0
	for _, u := range []struct {
		suffix string
		m      float64
	}{{"TIB", 1 << 40}, {"GIB", 1 << 30}, {"MIB", 1 << 20}, {"KIB", 1 << 10}, {"TB", 1 << 40}, {"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"T", 1 << 40}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}} {
		if v, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(v), u.m
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 || v*mult > math.MaxInt64/2 {
		return 0, errors.New("want a positive size such as 6GB, 800MB or 1.5G")
	}
	return int64(v * mult), nil
}

// checkMemory refuses, before loading, a job whose estimated peak exceeds
// the bound: --max-memory, else the machine's memory. The one-line error
// gives both and, where decoding tile by tile would fit, says so.
func (f *genFlags) checkMemory(lo pipeline.LoadOptions, o pipeline.Options) error {
	limit, source, ok := int64(0), "", false
	if f.maxMemory != "" {
		n, err := parseBytes(f.maxMemory)
		if err != nil {
			return usagef("--max-memory %q: %v", f.maxMemory, err)
		}
		limit, source, ok = n, "allowed (--max-memory)", true
	} else {
		limit, source, ok = machineMemory()
	}
	if !ok {
		return nil
	}
	est, err := pipeline.EstimateMemoryFile(f.model, lo, o)
	if err != nil {
		return nil // Load reports what is wrong with the model
	}
	if est.Peak <= limit {
		return nil
	}
	msg := fmt.Sprintf("a %d×%d image needs about %s of memory (peak in the %s), but %s %s; ",
		o.Width, o.Height, pipeline.FormatBytes(est.Peak), est.Stage, pipeline.FormatBytes(limit), source)
	if o.Width == 0 || o.Height == 0 {
		msg = fmt.Sprintf("this job needs about %s of memory (peak in the %s), but %s %s; ", pipeline.FormatBytes(est.Peak), est.Stage, pipeline.FormatBytes(limit), source)
	}
	if o.VAETiling == nil && est.Stage == "VAE" {
		o.VAETiling = &vae.Tiling{}
		if tiled, err := pipeline.EstimateMemoryFile(f.model, lo, o); err == nil && tiled.Peak <= limit {
			return fmt.Errorf("%swith --vae-tiling it needs about %s and fits", msg, pipeline.FormatBytes(tiled.Peak))
		}
	}
	return fmt.Errorf("%smake the image smaller or raise --max-memory", msg)
}
