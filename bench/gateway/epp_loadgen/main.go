// Command epp_loadgen plays Envoy's side of the ext_proc protocol against an endpoint picker at a
// fixed rate and reports, as JSON, how long each pick took: from the request's headers leaving to
// the picker's answer carrying the endpoint. Each stream then goes on as Envoy's would (the body
// handed back, the response headers and a streamed body passed through), so that the picker
// closes every request's accounting. It is the load generator of bench/gateway/epp.py, compiled so
// that its own CPU time disturbs the picker it measures as little as possible.
//
//	epp_loadgen -mode load -target 127.0.0.1:9002 -rate 500 -seconds 10 -body body.json
//	epp_loadgen -mode trivial -listen 127.0.0.1:9003      # a picker that answers at once
//	epp_loadgen -mode metrics -listen 127.0.0.1:8001,...  # engines' /metrics (vLLM names)
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extproc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/structpb"
)

const destinationHeader = "x-gateway-destination-endpoint"

func main() {
	mode := flag.String("mode", "load", "load, trivial or metrics")
	target := flag.String("target", "", "picker address host:port (load)")
	useTLS := flag.Bool("tls", false, "connect over TLS without checking the certificate (load)")
	rate := flag.Float64("rate", 500, "streams started per second (load)")
	seconds := flag.Float64("seconds", 10, "how long to send (load)")
	warmup := flag.Float64("warmup", 1, "seconds sent first and not counted (load)")
	connections := flag.Int("connections", 2, "gRPC connections, streams spread over them (load)")
	bodyFile := flag.String("body", "", "request body file (load)")
	path := flag.String("path", "/v1/completions", "request path (load)")
	chunks := flag.Int("chunks", 1, "response body chunks per stream, one token event each (load)")
	listen := flag.String("listen", "", "address(es) to serve on (trivial, metrics)")
	flag.Parse()
	var err error
	switch *mode {
	case "load":
		err = runLoad(*target, *useTLS, *rate, *seconds, *warmup, *connections, *bodyFile, *path, *chunks)
	case "trivial":
		err = serveTrivial(*listen)
	case "metrics":
		err = serveMetrics(strings.Split(*listen, ","))
	default:
		err = fmt.Errorf("unknown -mode %q", *mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "epp_loadgen:", err)
		os.Exit(1)
	}
}

// The load.

type outcome struct {
	pick    time.Duration
	stream  time.Duration
	status  int // 0 when picked, else the immediate response's status
	err     error
	counted bool
}

func runLoad(target string, useTLS bool, rate, seconds, warmup float64, connections int, bodyFile, path string, chunks int) error {
	body, err := os.ReadFile(bodyFile)
	if err != nil {
		return err
	}
	creds := insecure.NewCredentials()
	if useTLS {
		creds = credentials.NewTLS(&tls.Config{InsecureSkipVerify: true})
	}
	clients := make([]extproc.ExternalProcessorClient, connections)
	for i := range clients {
		conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(creds))
		if err != nil {
			return err
		}
		defer conn.Close()
		clients[i] = extproc.NewExternalProcessorClient(conn)
	}
	headers := requestHeaders(path)
	response := responseChunks(chunks)
	interval := time.Duration(float64(time.Second) / rate)
	total := int((seconds + warmup) * rate)
	skip := int(warmup * rate)
	results := make(chan outcome, total)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < total; i++ {
		due := start.Add(time.Duration(i) * interval)
		if wait := time.Until(due); wait > 0 {
			time.Sleep(wait)
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			result := oneStream(clients[i%len(clients)], headers, body, response)
			result.counted = i >= skip
			results <- result
		}(i)
	}
	sendSeconds := time.Since(start).Seconds()
	wg.Wait()
	close(results)
	var picks, streams []float64
	refused := map[int]int{}
	errorsSeen := map[string]int{}
	for result := range results {
		if !result.counted {
			continue
		}
		switch {
		case result.err != nil:
			errorsSeen[result.err.Error()]++
		case result.status != 0:
			refused[result.status]++
		default:
			picks = append(picks, ms(result.pick))
			streams = append(streams, ms(result.stream))
		}
	}
	report := map[string]any{
		"target_rate":   rate,
		"achieved_rate": float64(total) / sendSeconds,
		"counted":       total - skip,
		"picked":        len(picks),
		"refused":       refused,
		"errors":        errorsSeen,
		"pick_ms":       summary(picks),
		"stream_ms":     summary(streams),
		"chunks":        chunks,
	}
	return json.NewEncoder(os.Stdout).Encode(report)
}

func oneStream(client extproc.ExternalProcessorClient, headers *corev3.HeaderMap, body []byte, response [][]byte) outcome {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	began := time.Now()
	stream, err := client.Process(ctx)
	if err != nil {
		return outcome{err: err}
	}
	send := func(request *extproc.ProcessingRequest) error { return stream.Send(request) }
	if err := send(&extproc.ProcessingRequest{Request: &extproc.ProcessingRequest_RequestHeaders{
		RequestHeaders: &extproc.HttpHeaders{Headers: headers},
	}}); err != nil {
		return outcome{err: err}
	}
	if err := send(&extproc.ProcessingRequest{Request: &extproc.ProcessingRequest_RequestBody{
		RequestBody: &extproc.HttpBody{Body: body, EndOfStream: true},
	}}); err != nil {
		return outcome{err: err}
	}
	answer, err := stream.Recv()
	if err != nil {
		return outcome{err: err}
	}
	picked := time.Since(began)
	if immediate := answer.GetImmediateResponse(); immediate != nil {
		return outcome{pick: picked, status: int(immediate.GetStatus().GetCode())}
	}
	if !routed(answer) {
		return outcome{err: errors.New("the first answer named no endpoint")}
	}
	for {
		back, err := stream.Recv()
		if err != nil {
			return outcome{err: err}
		}
		if back.GetRequestBody().GetResponse().GetBodyMutation().GetStreamedResponse().GetEndOfStream() {
			break
		}
	}
	if err := send(&extproc.ProcessingRequest{Request: &extproc.ProcessingRequest_ResponseHeaders{
		ResponseHeaders: &extproc.HttpHeaders{Headers: headerMap(map[string]string{
			":status": "200", "content-type": "text/event-stream",
		})},
	}}); err != nil {
		return outcome{err: err}
	}
	if _, err := stream.Recv(); err != nil {
		return outcome{err: err}
	}
	for i, chunk := range response {
		if err := send(&extproc.ProcessingRequest{Request: &extproc.ProcessingRequest_ResponseBody{
			ResponseBody: &extproc.HttpBody{Body: chunk, EndOfStream: i == len(response)-1},
		}}); err != nil {
			return outcome{err: err}
		}
		if _, err := stream.Recv(); err != nil {
			return outcome{err: err}
		}
	}
	if err := stream.CloseSend(); err != nil {
		return outcome{err: err}
	}
	if _, err := stream.Recv(); err != io.EOF {
		return outcome{err: fmt.Errorf("the stream did not end: %v", err)}
	}
	return outcome{pick: picked, stream: time.Since(began)}
}

// responseChunks is a streamed completion of `count` tokens: one token event per chunk, the usage
// and [DONE] in the last (with one chunk, everything in it).
func responseChunks(count int) [][]byte {
	if count < 1 {
		count = 1
	}
	token := "data: {\"choices\":[{\"index\":0,\"text\":\"a\"}]}\n\n"
	end := fmt.Sprintf("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":16,\"completion_tokens\":%d}}\n\ndata: [DONE]\n\n", count)
	chunks := make([][]byte, count)
	for i := range chunks {
		chunks[i] = []byte(token)
	}
	chunks[count-1] = append(chunks[count-1], end...)
	return chunks
}

func routed(answer *extproc.ProcessingResponse) bool {
	common := answer.GetRequestHeaders().GetResponse()
	if common == nil {
		common = answer.GetRequestBody().GetResponse()
	}
	for _, option := range common.GetHeaderMutation().GetSetHeaders() {
		if option.GetHeader().GetKey() == destinationHeader {
			return true
		}
	}
	return false
}

func requestHeaders(path string) *corev3.HeaderMap {
	return headerMap(map[string]string{
		":method": "POST", ":path": path, ":authority": "inference.bench", ":scheme": "http",
		"content-type": "application/json",
	})
}

func headerMap(values map[string]string) *corev3.HeaderMap {
	headers := &corev3.HeaderMap{}
	for key, value := range values {
		headers.Headers = append(headers.Headers, &corev3.HeaderValue{Key: key, RawValue: []byte(value)})
	}
	return headers
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000.0 }

func summary(values []float64) map[string]any {
	if len(values) == 0 {
		return map[string]any{"count": 0}
	}
	sort.Float64s(values)
	q := func(p float64) float64 { return values[int(p*float64(len(values)-1)+0.5)] }
	sum := 0.0
	for _, v := range values {
		sum += v
	}
	return map[string]any{
		"count": len(values), "mean": sum / float64(len(values)),
		"p50": q(0.50), "p90": q(0.90), "p99": q(0.99), "max": values[len(values)-1],
	}
}

// A picker that answers at once with a fixed endpoint: the floor of gRPC and this client.

type trivialPicker struct {
	extproc.UnimplementedExternalProcessorServer
}

func (trivialPicker) Process(stream extproc.ExternalProcessor_ProcessServer) error {
	const endpoint = "127.0.0.1:8000"
	var chunks [][]byte
	for {
		request, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		var answers []*extproc.ProcessingResponse
		switch part := request.Request.(type) {
		case *extproc.ProcessingRequest_RequestBody:
			chunks = append(chunks, part.RequestBody.Body)
			if !part.RequestBody.EndOfStream {
				continue
			}
			metadata, _ := structpb.NewStruct(map[string]any{
				"envoy.lb": map[string]any{destinationHeader: endpoint},
			})
			answers = append(answers, &extproc.ProcessingResponse{
				Response: &extproc.ProcessingResponse_RequestHeaders{RequestHeaders: &extproc.HeadersResponse{
					Response: &extproc.CommonResponse{
						ClearRouteCache: true,
						HeaderMutation: &extproc.HeaderMutation{SetHeaders: []*corev3.HeaderValueOption{{
							Header: &corev3.HeaderValue{Key: destinationHeader, RawValue: []byte(endpoint)},
						}}},
					},
				}},
				DynamicMetadata: metadata,
			})
			for i, chunk := range chunks {
				answers = append(answers, streamed(chunk, i == len(chunks)-1, true))
			}
		case *extproc.ProcessingRequest_ResponseHeaders:
			answers = append(answers, &extproc.ProcessingResponse{
				Response: &extproc.ProcessingResponse_ResponseHeaders{ResponseHeaders: &extproc.HeadersResponse{}},
			})
		case *extproc.ProcessingRequest_ResponseBody:
			answers = append(answers, streamed(part.ResponseBody.Body, part.ResponseBody.EndOfStream, false))
		}
		for _, answer := range answers {
			if err := stream.Send(answer); err != nil {
				return err
			}
		}
	}
}

func streamed(chunk []byte, last, request bool) *extproc.ProcessingResponse {
	body := &extproc.BodyResponse{Response: &extproc.CommonResponse{BodyMutation: &extproc.BodyMutation{
		Mutation: &extproc.BodyMutation_StreamedResponse{StreamedResponse: &extproc.StreamedBodyResponse{
			Body: chunk, EndOfStream: last,
		}},
	}}}
	if request {
		return &extproc.ProcessingResponse{Response: &extproc.ProcessingResponse_RequestBody{RequestBody: body}}
	}
	return &extproc.ProcessingResponse{Response: &extproc.ProcessingResponse_ResponseBody{ResponseBody: body}}
}

func serveTrivial(address string) error {
	listener, err := net.Listen("tcp", address)
	if err != nil {
		return err
	}
	server := grpc.NewServer()
	extproc.RegisterExternalProcessorServer(server, trivialPicker{})
	return server.Serve(listener)
}

// Engines' metrics, as an idle vLLM publishes them.

func serveMetrics(addresses []string) error {
	page := "# TYPE vllm:num_requests_running gauge\n" +
		"vllm:num_requests_running{model_name=\"bench\"} 0\n" +
		"vllm:num_requests_waiting{model_name=\"bench\"} 0\n" +
		"vllm:kv_cache_usage_perc{model_name=\"bench\"} 0.01\n"
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		_, _ = io.WriteString(w, page)
	})
	failures := make(chan error, len(addresses))
	for _, address := range addresses {
		go func(address string) { failures <- http.ListenAndServe(address, handler) }(address)
	}
	return <-failures
}
