package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"
)

// One request of a schedule: when to send it (seconds from the start), its class and its body.
type scheduledRequest struct {
	AtS   float64         `json:"at_s"`
	Class string          `json:"class"`
	Body  json.RawMessage `json:"body"`
}

// What the client saw of one request: the HTTP status (0 when no answer came), the error code of
// a refusal, the time to the first token when served or to the answer otherwise, the tokens
// streamed, and whether it ended before the timeout.
type scheduledOutcome struct {
	Class     string  `json:"class"`
	Status    int     `json:"status"`
	Code      string  `json:"code,omitempty"`
	LatencyMs float64 `json:"latency_ms"`
	Tokens    int     `json:"tokens"`
	Ended     bool    `json:"ended"`
}

func readSchedule(path string) ([]scheduledRequest, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("-schedule: %w", err)
	}
	defer file.Close()
	var requests []scheduledRequest
	scanner := bufio.NewScanner(file)
	scanner.Buffer(make([]byte, 1<<20), 64<<20)
	for scanner.Scan() {
		var request scheduledRequest
		if err := json.Unmarshal(scanner.Bytes(), &request); err != nil {
			return nil, fmt.Errorf("-schedule line %d: %w", len(requests)+1, err)
		}
		requests = append(requests, request)
	}
	return requests, scanner.Err()
}

// runSchedule sends every request at its time, each on its own goroutine, round-robin over the
// URLs, and reports every outcome in the schedule's order.
func runSchedule(client *http.Client, opts options, requests []scheduledRequest) []scheduledOutcome {
	outcomes := make([]scheduledOutcome, len(requests))
	var group sync.WaitGroup
	start := time.Now()
	for index, request := range requests {
		time.Sleep(time.Until(start.Add(time.Duration(request.AtS * float64(time.Second)))))
		group.Add(1)
		go func(index int, request scheduledRequest, url string) {
			defer group.Done()
			outcomes[index] = sendScheduled(client, opts, url, request)
		}(index, request, opts.urls[index%len(opts.urls)])
	}
	group.Wait()
	return outcomes
}

var dataPrefix = []byte("data: ")

func sendScheduled(
	client *http.Client, opts options, url string, request scheduledRequest,
) scheduledOutcome {
	outcome := scheduledOutcome{Class: request.Class}
	ctx, cancel := context.WithTimeout(context.Background(), opts.timeout)
	defer cancel()
	httpRequest, err := http.NewRequestWithContext(
		ctx, http.MethodPost, url+"/v1/completions", bytes.NewReader(request.Body),
	)
	if err != nil {
		outcome.Code = err.Error()
		return outcome
	}
	httpRequest.Header.Set("Content-Type", "application/json")
	httpRequest.Header.Set("x-slo-class", request.Class)
	if opts.apiKey != "" {
		httpRequest.Header.Set("Authorization", "Bearer "+opts.apiKey)
	}
	started := time.Now()
	response, err := client.Do(httpRequest)
	if err != nil {
		outcome.Code = err.Error()
		outcome.Ended = ctx.Err() == nil
		return outcome
	}
	defer response.Body.Close()
	outcome.Status = response.StatusCode
	if response.StatusCode != http.StatusOK {
		payload, _ := io.ReadAll(response.Body)
		outcome.LatencyMs = float64(time.Since(started).Nanoseconds()) / 1e6
		var refusal struct {
			Error struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		if json.Unmarshal(payload, &refusal) == nil {
			outcome.Code = refusal.Error.Code
		}
		outcome.Ended = true
		return outcome
	}
	reader := bufio.NewReaderSize(response.Body, 64<<10)
	for {
		line, err := reader.ReadBytes('\n')
		if bytes.HasPrefix(line, dataPrefix) && !bytes.HasPrefix(line, doneMarker) {
			if outcome.Tokens == 0 {
				outcome.LatencyMs = float64(time.Since(started).Nanoseconds()) / 1e6
			}
			outcome.Tokens++
		}
		if err != nil {
			outcome.Ended = err == io.EOF
			if !outcome.Ended {
				outcome.Code = err.Error()
			}
			return outcome
		}
	}
}
