"""Issue 5: lstm_cell / gru_cell forward (target >= 1.3x torch.nn.LSTMCell / GRUCell)
and lstm forward + backward over T = 50 (target >= 1x torch.nn.LSTM)."""
from conftest import run


def test_rnn(benchmark, workload, impl):
    run(benchmark, workload, impl)


test_rnn.workload_family = "rnn"
