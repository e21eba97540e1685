package zapslog_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/gocalico/calico/internal/datastore/internal/zapslog"
)

func TestNew(t *testing.T) {
	tests := []struct {
		name string
		min  zapcore.Level
		log  func(*zap.Logger)
		want []string
	}{
		{
			name: "levels at and above min",
			min:  zapcore.WarnLevel,
			log: func(l *zap.Logger) {
				l.Info("dropped")
				l.Warn("kept", zap.String("b", "2"), zap.Int("a", 1))
				l.Error("bad", zap.Error(errTest{}))
			},
			want: []string{
				`level=WARN msg=kept a=1 b=2`,
				`level=ERROR msg=bad error=boom`,
			},
		},
		{
			name: "With fields and logger name",
			min:  zapcore.DebugLevel,
			log: func(l *zap.Logger) {
				l.Named("etcd").With(zap.String("member", "m1")).Debug("hello")
			},
			want: []string{`level=DEBUG msg=hello member=m1 logger=etcd`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			h := slog.NewTextHandler(&buf, &slog.HandlerOptions{
				Level: slog.LevelDebug,
				ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
					if a.Key == slog.TimeKey {
						return slog.Attr{}
					}
					return a
				},
			})
			tt.log(zapslog.New(slog.New(h), tt.min))
			got := strings.Split(strings.TrimSpace(buf.String()), "\n")
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("log lines (-want +got):\n%s", diff)
			}
		})
	}
}

type errTest struct{}

func (errTest) Error() string { return "boom" }
