package testregistry

import (
	"os"
	"sync"

	"github.com/sirupsen/logrus"
)

// LogLevelEnv names the environment variable that sets the embedded
// registry's log level (a logrus level such as "debug" or "error") when
// debugging a test. Default: "panic", i.e. silent.
const LogLevelEnv = "IMAGEC_TESTREGISTRY_LOG"

var quietOnce sync.Once

// quietLogs lowers the level of logrus's standard logger, which Distribution
// logs through. Even at "error" it logs every 404 and 401 it serves, and
// tests provoke those on purpose, so the default is silence.
func quietLogs() {
	quietOnce.Do(func() {
		level := logrus.PanicLevel
		if v := os.Getenv(LogLevelEnv); v != "" {
			if l, err := logrus.ParseLevel(v); err == nil {
				level = l
			}
		}
		logrus.SetLevel(level)
	})
}
