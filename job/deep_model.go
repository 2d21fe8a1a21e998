package job

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"altmin/data"
	"altmin/model"
)

// DeepModelFile is the content of model.json for --model deep. The weights
// are in weights_1.npy ... weights_L.npy, float64, layer l of shape
// (n_l, n_{l-1}) with n_0 = d (d+1 with --bias, the last column the bias)
// and n_l = hidden[l-1]: row q is unit q, as in PyTorch's
// nn.Linear.weight. f(x) = sum_q signs[q] h_L[q], h_l = relu(W_l h_{l-1}),
// h_0 = x (with a trailing 1 with --bias).
type DeepModelFile struct {
	Format      string    `json:"format"` // ModelFormat
	Model       string    `json:"model"`  // "deep"
	D           int       `json:"d"`      // input features, without the bias feature
	Hidden      []int     `json:"hidden"` // widths k1..kL of the hidden layers
	Dims        []int     `json:"dims"`   // n_0 (d, or d+1 with bias), k1, ..., kL
	Signs       []float64 `json:"signs"`  // output signs of the last hidden layer's units
	Bias        bool      `json:"bias"`
	Weights     []string  `json:"weights"`  // the weight files, layer 1 first
	Schedule    string    `json:"schedule"` // the deep schedule (joint)
	Iterations  int       `json:"iterations"`
	StopReason  string    `json:"stop_reason"`
	FinalLoss   float64   `json:"final_loss"`
	FinalRelRes float64   `json:"final_rel_res"`           // training ||f(X) - y|| / ||y||
	FinalRelErr *float64  `json:"final_rel_err,omitempty"` // weight error against a known teacher, up to symmetries (deep.WeightErr)
	Rows        int       `json:"rows"`
	Partitions  int       `json:"partitions"`
	Data        string    `json:"data"`
	Init        string    `json:"init"`
	Method      string    `json:"method"`
	Seed        uint64    `json:"seed"`
	Version     string    `json:"version"`
}

// modelKind reads the format and model kind of a model directory.
func modelKind(dir string) (string, error) {
	path := filepath.Join(dir, "model.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("job: model: %w", err)
	}
	var head struct{ Format, Model string }
	if err := json.Unmarshal(b, &head); err != nil {
		return "", fmt.Errorf("job: model: %s: %w", path, err)
	}
	if head.Format != ModelFormat {
		return "", fmt.Errorf("job: model: %s: format %q, want %q", path, head.Format, ModelFormat)
	}
	return head.Model, nil
}

// LoadDeepModel reads a deep model directory written by TrainDeep and
// checks it: widths, signs, the shapes and finiteness of every layer's
// weights.
func LoadDeepModel(dir string) (*model.Net, *DeepModelFile, error) {
	path := filepath.Join(dir, "model.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("job: model: %w", err)
	}
	var mf DeepModelFile
	if err := json.Unmarshal(b, &mf); err != nil {
		return nil, nil, fmt.Errorf("job: model: %s: %w", path, err)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("job: model: %s: %s", path, fmt.Sprintf(format, args...))
	}
	in := mf.D
	if mf.Bias {
		in++
	}
	switch {
	case mf.Format != ModelFormat:
		return nil, nil, bad("format %q, want %q", mf.Format, ModelFormat)
	case mf.Model != ModelDeep:
		return nil, nil, bad("model %q is not a deep model", mf.Model)
	case mf.D < 1 || len(mf.Hidden) < 1:
		return nil, nil, bad("d = %d and hidden %v: need d >= 1 and at least one hidden layer", mf.D, mf.Hidden)
	case !slices.Equal(mf.Dims, append([]int{in}, mf.Hidden...)):
		return nil, nil, bad("dims %v do not match d = %d, bias %v and hidden %v", mf.Dims, mf.D, mf.Bias, mf.Hidden)
	}
	if err := checkDeepSize(mf.Dims); err != nil {
		return nil, nil, bad("dims %v: %v", mf.Dims, err)
	}
	net := model.NewNet(mf.Dims...)
	if len(mf.Signs) != len(net.V) {
		return nil, nil, bad("%d signs for %d units of the last hidden layer", len(mf.Signs), len(net.V))
	}
	net.V = append([]float64(nil), mf.Signs...)
	for l, name := range weightFiles(net.Layers()) {
		wpath := filepath.Join(dir, name)
		w, shape, err := data.ReadNPY(wpath)
		if err != nil {
			return nil, nil, fmt.Errorf("job: model: %w", err)
		}
		if len(shape) != 2 || shape[0] != net.Dims[l+1] || shape[1] != net.Dims[l] {
			return nil, nil, fmt.Errorf("job: model: %s has shape %s, model.json says (%d, %d)", wpath, pyShape(shape), net.Dims[l+1], net.Dims[l])
		}
		net.W[l] = w
	}
	if err := net.Validate(); err != nil {
		return nil, nil, bad("%v", err)
	}
	return net, &mf, nil
}

// PredictAny applies a trained model of any kind: a deep model
// (model.json "model": "deep") with PredictDeep, the others with Predict.
func PredictAny(o PredictOptions) (int, error) {
	if o.Model == "" || o.Data == "" || o.Out == "" {
		return 0, errors.Join(ErrOptions, errors.New("predict needs --model, --data and --out"))
	}
	kind, err := modelKind(o.Model)
	if err != nil {
		return 0, err
	}
	if kind == ModelDeep {
		return PredictDeep(o)
	}
	return Predict(o)
}

// PredictDeep applies a trained deep model to data and writes the
// predictions. It returns the number of rows.
func PredictDeep(o PredictOptions) (int, error) {
	if o.Model == "" || o.Data == "" || o.Out == "" {
		return 0, errors.Join(ErrOptions, errors.New("predict needs --model, --data and --out"))
	}
	net, mf, err := LoadDeepModel(o.Model)
	if err != nil {
		return 0, err
	}
	// LoadDeepModel checked the network's inputs: d, plus 1 with bias.
	return predictRows(o, mf.D, mf.Bias, net.Predict)
}
