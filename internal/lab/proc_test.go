package lab

import (
	"os"
	"testing"
)

func TestParseProcStat(t *testing.T) {
	// The command name may hold spaces and parentheses.
	line := "4242 (calico node) (x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 9 0 123456 0 0 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
	st, err := parseProcStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if st.State != 'S' || st.StartTime != 123456 {
		t.Errorf("parseProcStat = %+v, want state S, start time 123456", st)
	}
	for _, bad := range []string{"", "1 (x", "1 (x) S 1 2"} {
		if _, err := parseProcStat([]byte(bad)); err == nil {
			t.Errorf("parseProcStat(%q): no error", bad)
		}
	}
}

func TestAliveChecksStartTime(t *testing.T) {
	st, err := readProcStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	l := newLab(&state{Name: "t"}, nil)
	if !l.alive(Process{PID: os.Getpid(), StartTime: st.StartTime}) {
		t.Error("this process is not alive")
	}
	// Same PID, another start time: a reused PID, not ours.
	if l.alive(Process{PID: os.Getpid(), StartTime: st.StartTime + 1}) {
		t.Error("a process with another start time counts as ours")
	}
	if l.alive(Process{}) {
		t.Error("PID 0 is alive")
	}
}
