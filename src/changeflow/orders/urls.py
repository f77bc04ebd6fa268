"""Web pages of change orders."""

from django.urls import path

from . import views

CO = "projects/<str:key>/change-orders/"
ONE = CO + "<int:number>/"

urlpatterns = [
    path(CO, views.order_list, name="order-list"),
    path(CO + "new/", views.order_create, name="order-create"),
    path(ONE, views.order_detail, name="order-detail"),
    path(ONE + "edit/", views.order_edit, name="order-edit"),
    path(ONE + "issue/", views.order_issue, name="order-issue"),
    path(ONE + "revise/", views.order_revise, name="order-revise"),
    path(ONE + "withdraw/", views.order_withdraw, name="order-withdraw"),
    path(ONE + "sign/", views.order_sign, name="order-sign"),
    path(ONE + "decline/", views.order_decline, name="order-decline"),
    path(ONE + "download.<str:fmt>", views.order_download, name="order-download"),
]
