package overlay

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"
)

func task(id, node string, state, desired swarm.TaskState, errMsg string) swarm.Task {
	return swarm.Task{ID: id, NodeID: node, DesiredState: desired, Status: swarm.TaskStatus{State: state, Err: errMsg}}
}

// A node counts as having set the overlays up only when a task of the
// anchor service runs there and is meant to: a task still preparing, one
// that failed (its replacement pending) or one being shut down does not.
func TestAnchorMissing(t *testing.T) {
	names := map[string]string{"id1": "node1", "id2": "node2", "id3": "node3"}
	want := []string{"node1", "node2", "node3"}
	for _, c := range []struct {
		name string
		ts   []swarm.Task
		want []string
	}{
		{"none yet", nil, want},
		{"all running", []swarm.Task{
			task("a", "id1", swarm.TaskStateRunning, swarm.TaskStateRunning, ""),
			task("b", "id2", swarm.TaskStateRunning, swarm.TaskStateRunning, ""),
			task("c", "id3", swarm.TaskStateRunning, swarm.TaskStateRunning, ""),
		}, nil},
		{"one preparing, one failed and replaced by a pending one", []swarm.Task{
			task("a", "id1", swarm.TaskStateRunning, swarm.TaskStateRunning, ""),
			task("b", "id2", swarm.TaskStatePreparing, swarm.TaskStateRunning, ""),
			task("c", "id3", swarm.TaskStateFailed, swarm.TaskStateShutdown, "attaching timed out"),
			task("d", "id3", swarm.TaskStatePending, swarm.TaskStateRunning, ""),
		}, []string{"node2", "node3"}},
		{"running but being shut down", []swarm.Task{
			task("a", "id1", swarm.TaskStateRunning, swarm.TaskStateShutdown, ""),
			task("b", "id2", swarm.TaskStateRunning, swarm.TaskStateRunning, ""),
			task("c", "id3", swarm.TaskStateRunning, swarm.TaskStateRunning, ""),
		}, []string{"node1"}},
		{"a node the manager does not list yet", []swarm.Task{
			task("a", "id1", swarm.TaskStateRunning, swarm.TaskStateRunning, ""),
			task("b", "id2", swarm.TaskStateRunning, swarm.TaskStateRunning, ""),
			task("c", "id9", swarm.TaskStateRunning, swarm.TaskStateRunning, ""),
		}, []string{"node3"}},
	} {
		if got := anchorMissing(c.ts, names, want); !slices.Equal(got, c.want) {
			t.Errorf("%s: missing %v, want %v", c.name, got, c.want)
		}
	}
}

func TestIsAttachTimeout(t *testing.T) {
	for msg, want := range map[string]bool{
		"node2: start container c2: Error response from daemon: attaching to network failed, make sure your network options are correct and check manager logs: context deadline exceeded": true,
		"Could not attach to network lab-ov: rpc error: code = DeadlineExceeded":                                                                                                           true,
		"No such image: busybox:latest":                          false,
		"Conflict. The container name \"/c2\" is already in use": false,
	} {
		if got := isAttachTimeout(errors.New(msg)); got != want {
			t.Errorf("%q: %v, want %v", msg, got, want)
		}
	}
}

// The task table shows why a task is not running, as `docker service ps`
// does in its ERROR column.
func TestTasksTableShowsTheError(t *testing.T) {
	out := tasksTable([]swarm.Task{task("abcdefghijklmnop", "id3", swarm.TaskStateRejected, swarm.TaskStateShutdown, "network lab-ov not found")},
		map[string]string{"id3": "node3"})
	lines := strings.Split(out, "\n")
	if len(lines) != 2 || !strings.HasSuffix(lines[0], "ERROR") || !strings.Contains(lines[1], "abcdefghijkl ") ||
		!strings.Contains(lines[1], "node3") || !strings.HasSuffix(lines[1], "network lab-ov not found") {
		t.Errorf("table:\n%s", out)
	}
}

// The progress line says what each waiting node's newest task is doing.
func TestTaskStates(t *testing.T) {
	old := task("a", "id3", swarm.TaskStateFailed, swarm.TaskStateShutdown, "attaching timed out")
	old.Meta.CreatedAt = time.Unix(100, 0)
	cur := task("b", "id3", swarm.TaskStatePreparing, swarm.TaskStateRunning, "")
	cur.Meta.CreatedAt = time.Unix(200, 0)
	failed := task("c", "id2", swarm.TaskStateRejected, swarm.TaskStateShutdown, "no such network")
	got := taskStates([]swarm.Task{cur, old, failed}, map[string]string{"id2": "node2", "id3": "node3"}, []string{"node1", "node2", "node3"})
	if want := "node1 no task yet, node2 rejected (no such network), node3 preparing"; got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}
