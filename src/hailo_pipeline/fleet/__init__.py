"""The fleet seen from the controller: which machines it is made of."""
