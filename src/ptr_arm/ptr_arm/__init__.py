"""The real robot: the WidowX 250 bridge over the Interbotix API and the camera node."""
