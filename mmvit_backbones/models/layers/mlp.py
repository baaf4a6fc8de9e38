from torch import nn


class Mlp(nn.Module):
    """Two-layer feed-forward network: Linear -> GELU -> Linear (token-wise).

    Args:
        in_dims (int): Input channels C.
        hidden_dims (int): Hidden channels (``mlp_ratio * C`` in transformer
            blocks).
        drop (float): Dropout after each linear layer.
    """

    def __init__(self, in_dims: int, hidden_dims: int, drop: float = 0.):
        super().__init__()
        self.fc1 = nn.Linear(in_dims, hidden_dims)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dims, in_dims)
        self.drop = nn.Dropout(drop)

    def forward(self, x):
        """x: (..., C) -> (..., C)."""
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))
