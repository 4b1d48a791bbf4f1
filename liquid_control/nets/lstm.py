"""The LSTM memory that "mixed memory" liquid networks run beside their cell.

With ``mixed_memory=True`` each step first passes the input through this LSTM, whose output
becomes the liquid cell's incoming state: the gated cell memory carries long-range information
that a continuous-time neuron alone forgets (Lechner & Hasani, 2020). Layout, forget-gate bias
of +1 and initialisation follow ``ncps.torch.lstm.LSTMCell`` 1.0.1.
"""

from __future__ import annotations

import torch
from torch import nn


class LSTMCell(nn.Module):
    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.input_size = int(input_size)
        self.hidden_size = int(hidden_size)
        self.input_map = nn.Linear(input_size, 4 * hidden_size, bias=True)
        self.recurrent_map = nn.Linear(hidden_size, 4 * hidden_size, bias=False)
        for param in self.input_map.parameters():
            if param.dim() == 1:
                nn.init.uniform_(param, -0.1, 0.1)
            else:
                nn.init.xavier_uniform_(param)
        nn.init.orthogonal_(self.recurrent_map.weight)

    def precompute(self, inputs: torch.Tensor) -> torch.Tensor:
        """The input's share of the gates, for any leading shape (a whole sequence at once)."""
        return self.input_map(inputs)

    def step(self, drive: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]):
        output_state, cell_state = state
        z = drive + self.recurrent_map(output_state)
        candidate, input_gate, forget_gate, output_gate = z.chunk(4, dim=-1)
        new_cell = cell_state * torch.sigmoid(forget_gate + 1.0) + torch.tanh(candidate) * torch.sigmoid(input_gate)
        return torch.tanh(new_cell) * torch.sigmoid(output_gate), new_cell

    def forward(self, inputs: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]):
        return self.step(self.precompute(inputs), state)
