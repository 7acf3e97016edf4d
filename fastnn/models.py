"""Reference models of the course: LeNet-5, a small ResNet, a VGG-style net,
and a character-level LSTM language model."""
import numpy as np

from . import nn


def _conv_out(size, k, s=1, p=0):
    return (size + 2 * p - k) // s + 1


class LeNet5(nn.Sequential):
    """LeCun et al. 1998: conv 6@5x5 - pool - conv 16@5x5 - pool - fc 120 - fc 84 - fc classes.

    On 32x32 input the convolutions are unpadded, as in the paper; smaller
    images (MNIST's 28x28, scikit-learn's 8x8 digits) pad each convolution by
    2 where needed so that the feature maps stay at least 1x1.
    """

    def __init__(self, num_classes=10, in_channels=1, image_size=32, activation=nn.ReLU,
                 dtype=np.float32):
        p1 = 0 if image_size >= 32 else 2
        s = _conv_out(image_size, 5, 1, p1) // 2
        p2 = 0 if s >= 8 else 2
        s = _conv_out(s, 5, 1, p2) // 2
        super().__init__(
            nn.Conv2d(in_channels, 6, 5, padding=p1, dtype=dtype), activation(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5, padding=p2, dtype=dtype), activation(), nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(16 * s * s, 120, dtype=dtype), activation(),
            nn.Linear(120, 84, dtype=dtype), activation(),
            nn.Linear(84, num_classes, dtype=dtype))


class SmallResNet(nn.Sequential):
    """A ResNet for small images (He et al. 2016): a 3x3 stem, one residual
    block per stage with the width doubling and the resolution halving, global
    average pooling and a linear classifier."""

    def __init__(self, num_classes=10, in_channels=1, image_size=8, widths=(16, 32, 64),
                 dtype=np.float32):
        layers = [nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False, dtype=dtype),
                  nn.BatchNorm2d(widths[0], dtype=dtype), nn.ReLU()]
        size, prev = image_size, widths[0]
        for i, w in enumerate(widths):
            stride = 1 if i == 0 else 2
            layers.append(nn.ResidualBlock(prev, w, stride, dtype=dtype))
            size, prev = _conv_out(size, 3, stride, 1), w
        layers += [nn.AvgPool2d(size), nn.Flatten(), nn.Linear(prev, num_classes, dtype=dtype)]
        super().__init__(*layers)


class VGGNet(nn.Sequential):
    """VGG-style (Simonyan & Zisserman 2015): stages of two conv3x3-BN-ReLU and
    a 2x2 max pool, then a classifier."""

    def __init__(self, num_classes=10, in_channels=1, image_size=8, widths=(32, 64),
                 hidden=128, dtype=np.float32):
        layers, prev, size = [], in_channels, image_size
        for w in widths:
            for _ in range(2):
                layers += [nn.Conv2d(prev, w, 3, 1, 1, dtype=dtype), nn.BatchNorm2d(w, dtype=dtype), nn.ReLU()]
                prev = w
            layers.append(nn.MaxPool2d(2))
            size //= 2
        layers += [nn.Flatten(), nn.Linear(prev * size * size, hidden, dtype=dtype), nn.ReLU(),
                   nn.Dropout(0.5), nn.Linear(hidden, num_classes, dtype=dtype)]
        super().__init__(*layers)


class CharLSTM(nn.Module):
    """Character-level language model: embedding - LSTM - linear over the vocabulary.

    forward(idx (T, N) ints) -> logits (T*N, vocab); backward(dlogits) fills the grads.
    """

    def __init__(self, vocab_size, embedding_dim=32, hidden_size=128, num_layers=1,
                 dtype=np.float32):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, dtype=dtype)
        self.lstm = nn.LSTM(embedding_dim, hidden_size, num_layers, dtype=dtype)
        self.head = nn.Linear(hidden_size, vocab_size, dtype=dtype)

    def forward(self, idx, hx=None):
        x = self.embedding(idx)
        out, self.state = self.lstm(x, hx)
        self._shape = out.shape
        return self.head(out.reshape(-1, out.shape[2]))

    def backward(self, dlogits):
        dout = self.head.backward(dlogits).reshape(self._shape)
        self.embedding.backward(self.lstm.backward(dout))

    def sample(self, start_ids, length, temperature=1.0, rng=None):
        """Continue the sequence start_ids (list of ints) by `length` sampled ids."""
        from . import functional as F
        rng = np.random.default_rng() if rng is None else rng
        training = self.training
        self.eval()
        ids, hx = list(start_ids), None
        logits = self.forward(np.array(ids)[:, None], hx)
        hx = self.state
        for _ in range(length):
            p = F.softmax(logits[-1:].astype(np.float64) / temperature)[0]
            ids.append(int(rng.choice(len(p), p=p / p.sum())))
            logits = self.forward(np.array([[ids[-1]]]), hx)
            hx = self.state
        self.train(training)
        return ids[len(start_ids):]
