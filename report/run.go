package report

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/replaygw/replaygw/compare/store"
)

// Run finds the results of one comparison run from dir: dir itself when
// it is a run's store, else its latest run (the subdirectories the
// comparison names by start time, "20060102T150405Z" with "-N" for a
// second run in the same second). The errors say what is missing where.
func Run(dir string) (string, error) {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "", fmt.Errorf("%s: no such directory: no comparison has stored results here (is [compare] enabled on the gateway, and store set to this path?)", dir)
	case err != nil:
		return "", err
	case !fi.IsDir():
		return "", fmt.Errorf("%s: not a directory", dir)
	}
	if isRun(dir) {
		return dir, countsWritten(dir)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	var runs []string
	for _, e := range ents {
		if p := filepath.Join(dir, e.Name()); e.IsDir() && isRun(p) {
			runs = append(runs, e.Name())
		}
	}
	if len(runs) == 0 {
		return "", fmt.Errorf("%s: empty store: no comparison run in it (no %s here or in a subdirectory); replay with [compare] enabled first", dir, store.CountsFile)
	}
	sort.Slice(runs, func(i, j int) bool { return runLess(runs[i], runs[j]) })
	last := filepath.Join(dir, runs[len(runs)-1])
	return last, countsWritten(last)
}

// isRun: dir holds a store's files.
func isRun(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, store.CountsFile)); err == nil {
		return true
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "results-*.jsonl"))
	return len(segs) > 0
}

// countsWritten checks that a run's counts are written.
func countsWritten(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, store.CountsFile)); err != nil {
		return fmt.Errorf("%s: no %s yet: the run is still going (its counts are written at each result file rotation and when the comparison stops)", dir, store.CountsFile)
	}
	return nil
}

// runLess orders run names by start time, then by their "-N" suffix.
func runLess(a, b string) bool {
	ab, an := runName(a)
	bb, bn := runName(b)
	if ab != bb {
		return ab < bb
	}
	return an < bn
}

func runName(s string) (string, int) {
	if i := strings.LastIndexByte(s, '-'); i > 0 {
		if n, err := strconv.Atoi(s[i+1:]); err == nil {
			return s[:i], n
		}
	}
	return s, 1
}
