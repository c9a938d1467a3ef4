// A command that makes one call of the zorkian Go client (github.com/zorkian/go-datadog-api,
// as Debian packages it) and prints its outcome as JSON: {"ok":…,"error":…,"value":…}.
// test/compat/zorkian-client.ts builds it offline and runs it once per call.
//
// Usage: zorkian CALL. Everything else arrives in the environment, never in argv (keys must
// not show in a process list): DD_API_KEY, DD_APP_KEY, DD_BASE_URL; ZK_ARG (a key, an id, a
// name or a search term); ZK_NAME (a new name); ZK_JSON (a JSON argument: a Check, []Metric);
// ZK_FROM, ZK_TO, ZK_QUERY (QueryMetrics).
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"

	datadog "github.com/zorkian/go-datadog-api"
)

func main() {
	client := datadog.NewClient(os.Getenv("DD_API_KEY"), os.Getenv("DD_APP_KEY"))
	client.SetBaseUrl(os.Getenv("DD_BASE_URL"))
	// A refused call is an answer, not a reason to retry for a minute.
	client.RetryTimeout = 2 * time.Second
	arg := os.Getenv("ZK_ARG")
	name := os.Getenv("ZK_NAME")
	raw := []byte(os.Getenv("ZK_JSON"))

	var value interface{}
	var err error
	switch os.Args[1] {
	case "Validate":
		value, err = client.Validate()
	case "GetAPIKeys":
		value, err = client.GetAPIKeys()
	case "GetAPIKey":
		value, err = client.GetAPIKey(arg)
	case "CreateAPIKey":
		value, err = client.CreateAPIKey(name)
	case "UpdateAPIKey":
		key := &datadog.APIKey{Key: &arg, Name: &name}
		err = client.UpdateAPIKey(key)
		value = key
	case "DeleteAPIKey":
		err = client.DeleteAPIKey(arg)
	case "GetAPPKeys":
		value, err = client.GetAPPKeys()
	case "GetAPPKey":
		value, err = client.GetAPPKey(arg)
	case "CreateAPPKey":
		value, err = client.CreateAPPKey(name)
	case "UpdateAPPKey":
		key := &datadog.APPKey{Hash: &arg, Name: &name}
		err = client.UpdateAPPKey(key)
		value = key
	case "DeleteAPPKey":
		err = client.DeleteAPPKey(arg)
	case "PostCheck":
		var check datadog.Check
		if err = json.Unmarshal(raw, &check); err == nil {
			err = client.PostCheck(check)
		}
	case "PostMetrics":
		var series []datadog.Metric
		if err = json.Unmarshal(raw, &series); err == nil {
			err = client.PostMetrics(series)
		}
	case "QueryMetrics":
		from, _ := strconv.ParseInt(os.Getenv("ZK_FROM"), 10, 64)
		to, _ := strconv.ParseInt(os.Getenv("ZK_TO"), 10, 64)
		value, err = client.QueryMetrics(from, to, os.Getenv("ZK_QUERY"))
	case "SearchHosts":
		value, err = client.SearchHosts(arg)
	case "SearchMetrics":
		value, err = client.SearchMetrics(arg)
	case "GetHostTotals":
		value, err = client.GetHostTotals()
	default:
		fmt.Fprintf(os.Stderr, "unknown call %q\n", os.Args[1])
		os.Exit(2)
	}

	outcome := map[string]interface{}{"ok": err == nil, "value": value}
	if err != nil {
		outcome["error"] = err.Error()
	}
	if encodeErr := json.NewEncoder(os.Stdout).Encode(outcome); encodeErr != nil {
		fmt.Fprintln(os.Stderr, encodeErr)
		os.Exit(1)
	}
}
