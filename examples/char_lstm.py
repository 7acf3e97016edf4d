"""A character-level LSTM language model on a text that ships with Python:
the Zen of Python (the `this` module), then samples from it.

    python examples/char_lstm.py
"""
import codecs

import numpy as np

import fastnn
from fastnn import models, nn, optim


def zen_of_python():
    import contextlib
    import io
    with contextlib.redirect_stdout(io.StringIO()):
        import this
    return codecs.decode(this.s, "rot13")


def main(steps=600, seq_len=48, batch=16, seed=0):
    text = zen_of_python()
    vocab = sorted(set(text))
    ids = np.array([vocab.index(ch) for ch in text])
    rng = np.random.default_rng(seed)
    fastnn.manual_seed(seed)
    model = models.CharLSTM(len(vocab), embedding_dim=32, hidden_size=128)
    opt = optim.Adam(model.parameters(), lr=3e-3)
    loss_fn = nn.CrossEntropyLoss()
    for step in range(1, steps + 1):
        starts = rng.integers(0, len(ids) - seq_len - 1, size=batch)
        window = np.stack([ids[s:s + seq_len + 1] for s in starts], axis=1)   # (T+1, N)
        logits = model(window[:-1])
        loss = loss_fn(logits, window[1:].reshape(-1))
        model.backward(loss_fn.backward())
        opt.step()
        opt.zero_grad()
        if step % 100 == 0:
            print(f"step {step}: loss {loss:.3f} (uniform guessing: {np.log(len(vocab)):.3f})")
    prompt = "Beautiful is "
    sample = model.sample([vocab.index(c) for c in prompt], 200, temperature=0.5, rng=rng)
    print("\n" + prompt + "".join(vocab[i] for i in sample))
    return loss


if __name__ == "__main__":
    main()
