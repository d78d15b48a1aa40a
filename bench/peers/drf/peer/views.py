from django.contrib.auth import get_user_model
from django.db import IntegrityError
from rest_framework import status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView


class RegisterView(APIView):
    """POST {username, password} -> 201 {id, username}; 400 when missing or the name is taken."""

    authentication_classes = []
    permission_classes = [AllowAny]

    def post(self, request):
        username = request.data.get("username")
        password = request.data.get("password")
        if not isinstance(username, str) or not username or not isinstance(password, str) or not password:
            return Response({"detail": "username and password are required"}, status=status.HTTP_400_BAD_REQUEST)
        User = get_user_model()
        try:
            user = User.objects.create_user(username=username, password=password)
        except IntegrityError:
            return Response({"detail": "username already taken"}, status=status.HTTP_400_BAD_REQUEST)
        return Response({"id": user.id, "username": user.username}, status=status.HTTP_201_CREATED)


class MeView(APIView):
    """GET with Authorization: Bearer <access> -> {id, username}."""

    permission_classes = [IsAuthenticated]

    def get(self, request):
        return Response({"id": request.user.id, "username": request.user.username})
